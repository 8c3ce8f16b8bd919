-- Portfolio health / "Where the NPAs are": NPA share of outstanding per state on the latest report
-- day, largest book first (map tile).
select
    coalesce(state, 'unknown') as state,
    count(*) as active_loans,
    sum(outstanding_amount_inr) as outstanding_inr,
    sum(case when is_npa then outstanding_amount_inr else 0 end) as npa_outstanding_inr,
    round(100.0 * sum(case when is_npa then outstanding_amount_inr else 0 end)
          / nullif(sum(outstanding_amount_inr), 0), 2) as npa_pct
from analytics.rpt_loan_delinquency
where day = (select max(day) from analytics.rpt_loan_delinquency)
group by coalesce(state, 'unknown')
order by outstanding_inr desc
