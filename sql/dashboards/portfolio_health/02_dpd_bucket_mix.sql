-- Portfolio health / "Ageing mix": loans and outstanding per DPD bucket and product on the latest
-- report day (stacked bar).
select
    product,
    dpd_bucket,
    count(*) as loans,
    sum(outstanding_amount_inr) as outstanding_inr,
    sum(overdue_amount_inr) as overdue_inr
from analytics.rpt_loan_delinquency
where day = (select max(day) from analytics.rpt_loan_delinquency)
group by product, dpd_bucket
order by product,
    case dpd_bucket when 'current' then 0 when '1-30' then 1 when '31-60' then 2 when '61-90' then 3 else 4 end
