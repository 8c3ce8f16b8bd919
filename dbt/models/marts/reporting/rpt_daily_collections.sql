-- PowerBI / Redash: repayment attempts per day and gateway; rate in percent.
select
    collection_day as day,
    gateway,
    attempted_count as attempts,
    succeeded_count as succeeded,
    failed_count as failed,
    reversed_count as reversed,
    pending_count as pending,
    amount_collected as amount_collected_inr,
    cast(100 * success_rate as numeric(7, 2)) as success_rate_pct
from {{ ref('fct_daily_collections') }}
