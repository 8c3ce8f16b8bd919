{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['disbursement_day', 'product'],
    on_schema_change='append_new_columns',
    dist='even',
    sort=['disbursement_day'],
) }}
-- Loans paid out per day and product. A loan counts on the day it was disbursed, whatever its
-- status is now (closed and written-off loans were disbursed too).
select
    {{ tierflow.to_date('disbursed_at') }} as disbursement_day,
    product,
    cast(count(*) as integer) as disbursement_count,
    cast(sum(principal_amount) as numeric(18, 2)) as disbursement_amount
from {{ ref('stg_lms__loans') }}
where disbursed_at is not null
  and loan_status in ('disbursed', 'closed', 'written_off')
  and {{ tierflow.in_lookback(tierflow.to_date('disbursed_at'), 'disbursement_day') }}
group by 1, 2
