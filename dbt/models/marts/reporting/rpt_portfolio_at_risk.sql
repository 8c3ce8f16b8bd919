-- PowerBI / Redash: PAR and NPA per report day and product; ratios in percent.
select
    report_day as day,
    product,
    active_loans,
    delinquent_loans,
    npa_loans,
    gross_outstanding as gross_outstanding_inr,
    par30_amount as par30_amount_inr,
    par60_amount as par60_amount_inr,
    par90_amount as par90_amount_inr,
    cast(100 * par30_ratio as numeric(7, 2)) as par30_pct,
    cast(100 * par60_ratio as numeric(7, 2)) as par60_pct,
    cast(100 * par90_ratio as numeric(7, 2)) as par90_pct,
    cast(100 * npa_ratio as numeric(7, 2)) as npa_pct
from {{ ref('fct_portfolio_at_risk_daily') }}
