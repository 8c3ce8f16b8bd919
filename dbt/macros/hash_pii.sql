{#- One-way hash of a PII value as hex SHA-256 of salt || value: the same digest the archive writes
    for `hash` columns (tierflow.archive.schema, salt TIERFLOW_PII_SALT, default 'tierflow'), so a
    hashed PAN joins across the warehouse and the archive. md5 on adapters without SHA-256. -#}
{% macro hash_pii(column) -%}
    {{ return(adapter.dispatch('hash_pii', 'tierflow')(column)) }}
{%- endmacro %}

{% macro default__hash_pii(column) -%}
    {{ dbt.hash(tierflow.salted(column)) }}
{%- endmacro %}

{% macro postgres__hash_pii(column) -%}
    encode(sha256(convert_to({{ tierflow.salted(column) }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro redshift__hash_pii(column) -%}
    sha2({{ tierflow.salted(column) }}, 256)
{%- endmacro %}

{% macro salted(column) -%}
    {%- set salt = var('pii_salt', env_var('TIERFLOW_PII_SALT', 'tierflow')) -%}
    {{ dbt.concat(["'" ~ dbt.escape_single_quotes(salt) ~ "'", "cast(" ~ column ~ " as " ~ tierflow.long_string() ~ ")"]) }}
{%- endmacro %}
