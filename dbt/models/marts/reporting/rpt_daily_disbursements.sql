-- PowerBI / Redash: disbursements per day and product, with labels as analysts read them.
select
    disbursement_day as day,
    product,
    disbursement_count as loans_disbursed,
    disbursement_amount as amount_disbursed_inr
from {{ ref('fct_daily_disbursements') }}
