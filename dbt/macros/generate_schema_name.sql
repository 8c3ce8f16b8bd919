{#- Marts go to target.schema itself (analytics_audit, swapped into analytics on publish); staging and
    intermediate go to <target.schema>_<layer>, so an audit build never touches the published layers. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ target.schema | trim }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
