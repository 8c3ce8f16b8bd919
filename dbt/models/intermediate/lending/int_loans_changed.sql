{{ config(materialized='table', dist='all') }}
-- Loans whose loan or instalment rows were loaded into the warehouse since var `changed_since`
-- (when this slot's copy of fct_loan_delinquency_daily was last built; see
-- macros/incremental.sql). Empty without the var: the delinquency fact then rebuilds every loan
-- of its lookback days and does not read this table.
{%- set since = var('changed_since', none) %}
{%- set loaded_since -%}
    {% if since %}_loaded_at >= cast('{{ since }}' as {{ dbt.type_timestamp() }}){% else %}1 = 0{% endif %}
{%- endset %}
select loan_id
from {{ ref('stg_lms__loans') }}
where {{ loaded_since }}
union
select loan_id
from {{ ref('stg_lms__emi_schedules') }}
where {{ loaded_since }}
