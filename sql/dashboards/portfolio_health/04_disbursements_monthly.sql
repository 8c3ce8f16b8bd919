-- Portfolio health / "Disbursements": loans and amount disbursed per month and product over the
-- last 12 months of data.
select
    cast(date_trunc('month', day) as date) as month,
    product,
    sum(loans_disbursed) as loans_disbursed,
    sum(amount_disbursed_inr) as amount_disbursed_inr
from analytics.rpt_daily_disbursements
where day > (select max(day) from analytics.rpt_daily_disbursements) - 365
group by cast(date_trunc('month', day) as date), product
order by month, product
