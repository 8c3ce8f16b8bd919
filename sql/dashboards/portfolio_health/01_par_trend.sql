-- Portfolio health / "PAR and NPA trend": whole-book PAR30, PAR60, PAR90 and NPA (% of gross
-- outstanding) per day over the last 90 days of data, weighted across products.
-- Reads the published `analytics` views; runs as is on Redshift and on the local PostgreSQL.
select
    day,
    sum(active_loans) as active_loans,
    sum(gross_outstanding_inr) as gross_outstanding_inr,
    round(100.0 * sum(par30_amount_inr) / nullif(sum(gross_outstanding_inr), 0), 2) as par30_pct,
    round(100.0 * sum(par60_amount_inr) / nullif(sum(gross_outstanding_inr), 0), 2) as par60_pct,
    round(100.0 * sum(par90_amount_inr) / nullif(sum(gross_outstanding_inr), 0), 2) as par90_pct,
    sum(npa_loans) as npa_loans
from analytics.rpt_portfolio_at_risk
where day > (select max(day) from analytics.rpt_portfolio_at_risk) - 90
group by day
order by day
