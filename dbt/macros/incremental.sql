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

{#- The lookback of `relation` by its date `column`, read now: {from_day: newest - lookback_days,
    newest_day} as ISO dates, or none when the table is empty (or dbt is only parsing). Callers
    write them as literals: against a subquery the planner cannot tell how few rows qualify and
    scans the whole table. -#}
{% macro lookback_bounds(relation, column) -%}
    {%- if not execute -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set newest = 'max(' ~ column ~ ')' -%}
    {%- set row = run_query(
        'select cast(' ~ dbt.dateadd('day', -1 * var('lookback_days') | int, newest) ~ ' as date), cast('
        ~ newest ~ ' as date) from ' ~ relation
    ).rows[0] -%}
    {%- if row[1] is none -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- do return({'from_day': row[0] | string, 'newest_day': row[1] | string}) -%}
{%- endmacro %}

{#- Rebuild scope of fct_loan_delinquency_daily (incremental strategy `replace_scope`): from the
    first lookback day on, and within the days already built, when `tierflow warehouse build` passes
    var `changed_since` (when this slot's copy of the mart was last built), only the loans in
    int_loans_changed (loan or instalment rows loaded since then); every loan on days newer than
    the mart's newest day. A loan's row for a day depends only on its own loan and instalment rows,
    so the other loans' rows are already right. Without the var (first build, Redshift load path)
    every loan of the lookback days is rebuilt.
    The model and the strategy read the bounds (lookback_bounds) from the same, not yet changed,
    table. -#}
{% macro delinquency_rebuild_scope() -%}
    {%- set scope = {
        'day_column': 'report_day',
        'key_column': 'loan_id',
        'from_day': '1900-01-01',
        'newest_day': '1900-01-01',
        'changed_keys': ref('int_loans_changed') if var('changed_since', none) else none,
    } -%}
    {%- if is_incremental() -%}
        {%- set bounds = tierflow.lookback_bounds(this, 'report_day') -%}
        {%- if bounds -%}
            {%- do scope.update(bounds) -%}
        {%- endif -%}
    {%- endif -%}
    {%- do return(scope) -%}
{%- endmacro %}

{#- Delete the rows of days that are no longer report days (a day that aged out of the recent
    window and is not a month-end). -#}
{% macro delete_days_not_in(relation, day_column, days_relation) -%}
    {{ return(adapter.dispatch('delete_days_not_in', 'tierflow')(relation, day_column, days_relation)) }}
{%- endmacro %}

{#- Redshift (and any adapter without PostgreSQL's arrays and data-modifying WITH): one plain
    delete; the day column is the sort key, so the scan skips blocks by their zone maps. dbt-redshift
    names postgres as its parent, so without this version it would dispatch to postgres__. -#}
{% macro redshift__delete_days_not_in(relation, day_column, days_relation) -%}
    {{ tierflow.default__delete_days_not_in(relation, day_column, days_relation) }}
{%- endmacro %}

{% macro default__delete_days_not_in(relation, day_column, days_relation) -%}
    delete from {{ relation }}
    where {{ day_column }} not in (select {{ day_column }} from {{ days_relation }})
{%- endmacro %}

{#- PostgreSQL: the table's few distinct days come from its (day, key) primary-key index, one
    probe per day (a loose index scan), and `= any(array(...))` makes the delete an index scan of
    the rows it removes instead of a scan of the whole fact. -#}
{% macro postgres__delete_days_not_in(relation, day_column, days_relation) -%}
    with recursive days as (
        select min({{ day_column }}) as day from {{ relation }}
        union all
        select (select min({{ day_column }}) from {{ relation }} where {{ day_column }} > days.day)
        from days
        where days.day is not null
    )
    delete from {{ relation }}
    where {{ day_column }} = any(array(
        select day from days
        where day is not null and day not in (select {{ day_column }} from {{ days_relation }})
    ))
{%- endmacro %}
