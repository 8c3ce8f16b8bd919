-- PowerBI / Redash: loan ageing per report day, joined to the (PII-free) customer attributes.
select
    delinquency.report_day as day,
    delinquency.loan_id,
    delinquency.customer_id,
    delinquency.product,
    delinquency.days_past_due,
    delinquency.dpd_bucket,
    delinquency.is_npa,
    delinquency.overdue_amount as overdue_amount_inr,
    delinquency.outstanding_amount as outstanding_amount_inr,
    delinquency.is_month_end,
    customers.state,
    customers.city,
    customers.age_band
from {{ ref('fct_loan_delinquency_daily') }} as delinquency
left join {{ ref('dim_customers') }} as customers
    on customers.customer_id = delinquency.customer_id
