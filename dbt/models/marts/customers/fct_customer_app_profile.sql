{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='customer_id',
    on_schema_change='append_new_columns',
    dist='customer_id',
    sort=['customer_id'],
) }}
-- Apps seen on each borrower's device, by category: an input to underwriting and fraud scores.
-- An app counts once per customer (package name), in the category the scan reported.
-- Incremental runs redo only the customers with a device scan in the lookback window.
with apps as (
    select *
    from {{ ref('stg_lms__user_device_apps') }}
    {% if is_incremental() %}
    where customer_id in (
        select customer_id
        from {{ ref('stg_lms__user_device_apps') }}
        where {{ tierflow.to_date('created_at') }} >= {{ tierflow.lookback_start(tierflow.to_date('last_seen_at')) }}
    )
    {% endif %}
)

select
    customer_id,
    cast(count(distinct package_name) as integer) as total_apps,
    cast(count(distinct case when category = 'finance' then package_name end) as integer) as finance_apps,
    cast(count(distinct case when category = 'gaming' then package_name end) as integer) as gaming_apps,
    cast(count(distinct case when category = 'social' then package_name end) as integer) as social_apps,
    cast(count(distinct case when category not in ('finance', 'gaming', 'social') then package_name end) as integer) as other_apps,
    min(created_at) as first_seen_at,
    max(created_at) as last_seen_at
from apps
group by 1
