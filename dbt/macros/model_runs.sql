{#- The build history: after every dbt invocation (`tierflow warehouse build`, the warehouse_refresh
    DAG's Cosmos tasks, a developer's run) each model that built records its time in
    <target.schema>._tierflow_model_runs. The query advisor reads it to estimate what keeping a
    promoted aggregate fresh costs: an incremental build's time as a share of a full one
    (docs/advisor.md). Rows hold no data, only names, flags and timings. -#}
{% macro model_runs_relation() -%}
    {{ adapter.quote(target.schema) }}._tierflow_model_runs
{%- endmacro %}

{% macro create_model_runs_table() -%}
    create table if not exists {{ model_runs_relation() }} (
        invocation_id varchar(64) not null,
        model varchar(256) not null,
        materialized varchar(32) not null,
        full_refresh boolean not null,
        seconds double precision not null,
        rows_affected bigint,
        run_at timestamp not null  -- UTC
    )
{%- endmacro %}

{% macro record_model_runs(results) -%}
    {%- set rows = [] -%}
    {%- for r in results if r.node.resource_type == 'model' and r.status == 'success' -%}
        {%- set affected = (r.adapter_response or {}).get('rows_affected') -%}
        {%- do rows.append(
            "('" ~ invocation_id ~ "', '" ~ r.node.name ~ "', '" ~ r.node.config.materialized ~ "', "
            ~ ('true' if flags.FULL_REFRESH else 'false') ~ ", " ~ r.execution_time ~ ", "
            ~ (affected if affected is number else 'null') ~ ", " ~ dbt.current_timestamp_in_utc_backcompat() ~ ")"
        ) -%}
    {%- endfor -%}
    {%- if rows -%}
        insert into {{ model_runs_relation() }}
            (invocation_id, model, materialized, full_refresh, seconds, rows_affected, run_at)
        values {{ rows | join(', ') }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
