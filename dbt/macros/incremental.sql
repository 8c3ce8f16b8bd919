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
