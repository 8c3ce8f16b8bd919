{#- Incremental models rebuild everything from (newest day already built - lookback_days) on, so rows
    that arrive late (a payment gateway callback, a delivery receipt) still land in the right day. -#}
{% macro lookback_start(day_column) -%}
    (select {{ dbt.dateadd('day', -1 * var('lookback_days') | int, 'coalesce(max(' ~ day_column ~ "), cast('1900-01-01' as date))") }}
     from {{ this }})
{%- endmacro %}

{#- "where" clause fragment: true on a full build, the lookback window on an incremental one. -#}
{% macro in_lookback(source_date_expr, target_day_column) -%}
    {%- if is_incremental() -%}
        {{ source_date_expr }} >= {{ tierflow.lookback_start(target_day_column) }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- Rebuild scope of fct_loan_delinquency_daily (incremental strategy `replace_scope`): the
    lookback days, and within them, when `tierflow warehouse build` passes var `changed_since`
    (when this slot's copy of the mart was last built), only the loans whose loan or instalment rows
    were loaded since then, plus every loan on days newer than the mart's newest day. A loan's row
    for a day depends only on its own loan and instalment rows, so the rows of the other loans are
    already right. Without the var (first build, Airflow's Cosmos path) every loan in the lookback
    days is rebuilt. `day` and `loan` are the column expressions to filter. -#}
{% macro delinquency_rebuild_scope(day='report_day', loan='loan_id') -%}
    {{ day }} >= {{ tierflow.lookback_start('report_day') }}
    {%- if var('changed_since', none) %}
    and (
        {{ day }} > (select coalesce(max(report_day), cast('1900-01-01' as date)) from {{ this }})
        or {{ loan }} in (
            select loan_id from {{ ref('stg_lms__loans') }}
            where _loaded_at >= cast('{{ var("changed_since") }}' as {{ dbt.type_timestamp() }})
            union
            select loan_id from {{ ref('stg_lms__emi_schedules') }}
            where _loaded_at >= cast('{{ var("changed_since") }}' as {{ dbt.type_timestamp() }})
        )
    )
    {%- endif %}
{%- endmacro %}
