{#- Small pieces of arithmetic shared by the marts, written once so every mart rounds the same way. -#}

{#- numerator / denominator as numeric(9,4), NULL when the denominator is 0 (no rate, not 0 %). -#}
{% macro safe_ratio(numerator, denominator) -%}
    cast(
        case when coalesce({{ denominator }}, 0) = 0 then null
             else cast({{ numerator }} as numeric(28, 8)) / {{ denominator }}
        end as numeric(9, 4))
{%- endmacro %}

{#- RBI-style ageing buckets: 0 = current, then 1-30, 31-60, 61-90, and over 90 days = NPA. -#}
{% macro dpd_bucket(days_past_due) -%}
    case
        when {{ days_past_due }} <= 0 then 'current'
        when {{ days_past_due }} <= 30 then '1-30'
        when {{ days_past_due }} <= 60 then '31-60'
        when {{ days_past_due }} <= 90 then '61-90'
        else '90+'
    end
{%- endmacro %}

{#- Calendar date of a timestamp, the same on PostgreSQL and Redshift. -#}
{% macro to_date(ts) -%}
    cast({{ ts }} as date)
{%- endmacro %}
