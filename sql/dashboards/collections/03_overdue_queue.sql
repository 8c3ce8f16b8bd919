-- Collections / "Overdue queue": what the collections team has to chase on the latest report day,
-- per DPD bucket (current loans excluded): loans, overdue and outstanding amounts.
select
    dpd_bucket,
    count(*) as loans,
    sum(overdue_amount_inr) as overdue_inr,
    sum(outstanding_amount_inr) as outstanding_inr,
    round(avg(cast(days_past_due as numeric(10, 2))), 1) as avg_days_past_due
from analytics.rpt_loan_delinquency
where day = (select max(day) from analytics.rpt_loan_delinquency)
  and dpd_bucket <> 'current'
group by dpd_bucket
order by min(days_past_due)
