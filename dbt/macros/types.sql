{#- A string type wide enough for any raw string column. dbt.type_string() is a bare varchar, which
    Redshift reads as VARCHAR(256): a longer value (an email is up to 640 bytes in raw) would be cut
    or refused. -#}
{% macro long_string() -%}
    {{ return(adapter.dispatch('long_string', 'tierflow')()) }}
{%- endmacro %}

{% macro default__long_string() -%}
    {{ dbt.type_string() }}
{%- endmacro %}

{% macro redshift__long_string() -%}
    varchar(65535)
{%- endmacro %}
