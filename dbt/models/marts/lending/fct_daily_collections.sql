{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['collection_day', 'gateway'],
    on_schema_change='append_new_columns',
    dist='even',
    sort=['collection_day'],
) }}
-- Repayment attempts per day (of the attempt) and gateway: EMI payments, prepayments and penalty
-- payments, i.e. money coming in. A gateway callback can flip an attempt from initiated to success
-- days later, so an incremental run redoes every day that has an attempt updated in the lookback.
with collections as (
    select
        {{ tierflow.to_date('created_at') }} as collection_day,
        gateway,
        txn_status,
        amount,
        updated_at
    from {{ ref('stg_lms__loan_transactions') }}
    where txn_type in ('emi_payment', 'prepayment', 'penalty')
),

{% if is_incremental() %}
changed_days as (
    select distinct collection_day
    from collections
    where collection_day >= {{ tierflow.lookback_start('collection_day') }}
       or {{ tierflow.to_date('updated_at') }} >= {{ tierflow.lookback_start('collection_day') }}
),
{% endif %}

attempts as (
    select collections.*
    from collections
    {% if is_incremental() %}
    where collection_day in (select collection_day from changed_days)
    {% endif %}
)

select
    collection_day,
    gateway,
    cast(count(*) as integer) as attempted_count,
    cast(sum(case when txn_status = 'success' then 1 else 0 end) as integer) as succeeded_count,
    cast(sum(case when txn_status = 'failed' then 1 else 0 end) as integer) as failed_count,
    cast(sum(case when txn_status = 'reversed' then 1 else 0 end) as integer) as reversed_count,
    cast(sum(case when txn_status = 'initiated' then 1 else 0 end) as integer) as pending_count,
    cast(sum(case when txn_status = 'success' then amount else 0 end) as numeric(18, 2)) as amount_collected,
    {{ tierflow.safe_ratio("sum(case when txn_status = 'success' then 1 else 0 end)", 'count(*)') }} as success_rate
from attempts
group by 1, 2
