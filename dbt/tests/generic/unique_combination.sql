{#- The grain of a mart: no two rows share these columns (dbt_utils' unique_combination_of_columns,
    written here because the project installs no packages). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as duplicate_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
