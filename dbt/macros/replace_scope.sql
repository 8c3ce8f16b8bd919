{#- Incremental strategy `replace_scope`: delete every target row inside the rebuild scope, then
    insert what the model computed for that scope. Unlike delete+insert, rows that should no longer
    exist (a loan that left the book on a day already built) are deleted even when the new
    computation has no row for them.

    The model names its scope with config `rebuild_scope`: a macro of this project that returns a
    predicate on the target's columns. The model filters its own input with the same macro, so
    what is deleted and what is recomputed are the same set of rows. Both statements run in the
    model's transaction, on PostgreSQL and on Redshift alike. -#}
{% macro get_incremental_replace_scope_sql(arg_dict) -%}
    {%- set scope_macro = config.get('rebuild_scope') -%}
    {%- if not scope_macro -%}
        {{ exceptions.raise_compiler_error("incremental_strategy 'replace_scope' needs config rebuild_scope (a macro name)") }}
    {%- endif -%}
    {%- set scope = context[scope_macro]() -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ scope }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
