{#- What a data test reads (dbt's get_where_subquery, overridden). Besides the usual `where` config,
    a test may carry `meta: {test_window: ...}` so that an incremental build tests what it changed
    and not all of history (a `--full-refresh` build always tests every row):

    - `test_window: {column: report_day}`: rows whose `column` is within `lookback_days` of its
      newest value. For incremental models whose rebuilds stay within that window.
    - `test_window: loaded`: rows loaded into the warehouse (`_loaded_at`) since the start of the
      last build that passed, given by `tierflow warehouse build` as var `tests_loaded_since`.
      Without that var (first build, Redshift load path) every row is tested. Airflow's Cosmos
      path passes it too (dags/warehouse_refresh.py). -#}
{% macro get_where_subquery(relation) -%}
    {%- set clauses = [] -%}
    {%- if config.get('where') -%}
        {%- do clauses.append('(' ~ config.get('where') ~ ')') -%}
    {%- endif -%}
    {%- set window = (config.get('meta') or {}).get('test_window') -%}
    {%- if window and not flags.FULL_REFRESH -%}
        {%- if window == 'loaded' -%}
            {%- if var('tests_loaded_since', none) -%}
                {%- do clauses.append("_loaded_at >= cast('" ~ var('tests_loaded_since') ~ "' as " ~ dbt.type_timestamp() ~ ")") -%}
            {%- endif -%}
        {%- elif window.column -%}
            {%- set bounds = tierflow.lookback_bounds(relation, window.column) -%}
            {%- if bounds -%}
                {%- do clauses.append(window.column ~ " >= cast('" ~ bounds.from_day ~ "' as date)") -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- if clauses -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ clauses | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
