{{ config(materialized='table', dist='customer_id', sort=['customer_id']) }}
-- Borrowers without readable PII: phone, email and PAN are salted one-way hashes (joinable, not
-- reversible), name is dropped, date of birth becomes an age band as of the as-of day.
with customers as (
    select
        *,
        {{ dbt.datediff('date_of_birth', tierflow.as_of_date('current_date'), 'day') }} as age_days
    from {{ ref('stg_lms__customers') }}
)

select
    customer_id,
    cast({{ tierflow.hash_pii('phone') }} as {{ dbt.type_string() }}) as phone_hash,
    cast({{ tierflow.hash_pii('email') }} as {{ dbt.type_string() }}) as email_hash,
    cast({{ tierflow.hash_pii('pan') }} as {{ dbt.type_string() }}) as pan_hash,
    cast(case
        when age_days < 21 * 365.25 then 'under 21'
        when age_days < 26 * 365.25 then '21-25'
        when age_days < 31 * 365.25 then '26-30'
        when age_days < 41 * 365.25 then '31-40'
        when age_days < 51 * 365.25 then '41-50'
        when age_days < 61 * 365.25 then '51-60'
        else '61+'
    end as {{ dbt.type_string() }}) as age_band,
    city,
    state,
    kyc_status,
    {{ tierflow.to_date('created_at') }} as customer_since,
    updated_at
from customers
