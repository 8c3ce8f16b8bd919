{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['report_day', 'product'],
    on_schema_change='append_new_columns',
    dist='all',
    sort=['report_day'],
    post_hook="delete from {{ this }} where report_day not in (select report_day from {{ ref('int_reporting_days') }})",
) }}
-- Portfolio at risk per report day and product: the share of the outstanding book owed by loans
-- more than 30 / 60 / 90 days past due (by amount). NPA = over 90 days past due (the 90+ bucket),
-- so the amount-based NPA ratio equals PAR90; npa_loan_ratio is the count-based view.
select
    report_day,
    product,
    cast(count(*) as integer) as active_loans,
    cast(sum(case when days_past_due > 0 then 1 else 0 end) as integer) as delinquent_loans,
    cast(sum(case when is_npa then 1 else 0 end) as integer) as npa_loans,
    cast(sum(outstanding_amount) as numeric(18, 2)) as gross_outstanding,
    cast(sum(case when days_past_due > 30 then outstanding_amount else 0 end) as numeric(18, 2)) as par30_amount,
    cast(sum(case when days_past_due > 60 then outstanding_amount else 0 end) as numeric(18, 2)) as par60_amount,
    cast(sum(case when days_past_due > 90 then outstanding_amount else 0 end) as numeric(18, 2)) as par90_amount,
    {{ tierflow.safe_ratio('sum(case when days_past_due > 30 then outstanding_amount else 0 end)', 'sum(outstanding_amount)') }} as par30_ratio,
    {{ tierflow.safe_ratio('sum(case when days_past_due > 60 then outstanding_amount else 0 end)', 'sum(outstanding_amount)') }} as par60_ratio,
    {{ tierflow.safe_ratio('sum(case when days_past_due > 90 then outstanding_amount else 0 end)', 'sum(outstanding_amount)') }} as par90_ratio,
    {{ tierflow.safe_ratio('sum(case when is_npa then outstanding_amount else 0 end)', 'sum(outstanding_amount)') }} as npa_ratio,
    {{ tierflow.safe_ratio('sum(case when is_npa then 1 else 0 end)', 'count(*)') }} as npa_loan_ratio
from {{ ref('fct_loan_delinquency_daily') }}
where {{ tierflow.in_lookback('report_day', 'report_day') }}
group by 1, 2
