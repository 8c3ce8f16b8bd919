{#- Incremental strategy `replace_scope`: delete every target row inside the rebuild scope, then
    insert what the model computed for that scope. Unlike delete+insert, rows that should no longer
    exist (a loan that left the book on a day already built) are deleted even when the new
    computation has no row for them.

    The model names its scope with config `rebuild_scope`: a macro of this project returning
    {day_column, key_column, from_day, newest_day, changed_keys}. The scope is every row from
    `from_day` on; with `changed_keys` (a relation with a `key_column` column) only the rows of
    those keys up to `newest_day`, and every row after it. The model filters its own input with the
    same macro, so what is deleted and what is recomputed are the same rows. The statements run
    in the model's transaction, on PostgreSQL and on Redshift alike. -#}
{% macro get_incremental_replace_scope_sql(arg_dict) -%}
    {%- set scope_macro = config.get('rebuild_scope') -%}
    {%- if not scope_macro -%}
        {{ exceptions.raise_compiler_error("incremental_strategy 'replace_scope' needs config rebuild_scope (a macro name)") }}
    {%- endif -%}
    {%- set scope = context[scope_macro]() -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- if scope.changed_keys is none %}
    delete from {{ target }}
    where {{ scope.day_column }} >= cast('{{ scope.from_day }}' as date);
    {%- else %}
    delete from {{ target }}
    where {{ scope.day_column }} > cast('{{ scope.newest_day }}' as date);

    delete from {{ target }}
    where {{ scope.day_column }} >= cast('{{ scope.from_day }}' as date)
      and {{ scope.key_column }} in (select {{ scope.key_column }} from {{ scope.changed_keys }});
    {%- endif %}

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
