{#- The day the marts describe: var as_of_date when pinned, else the given data-driven expression
    (the newest day in the data), so a dataset that stops in the past is not aged to today. -#}
{% macro as_of_date(data_driven_expr) -%}
    {%- if var('as_of_date') -%}
        cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        {{ data_driven_expr }}
    {%- endif -%}
{%- endmacro %}
