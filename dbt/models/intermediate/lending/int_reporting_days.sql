{{ config(materialized='table', dist='all', sort=['report_day']) }}
-- The days fct_loan_delinquency_daily describes: each day of the recent window
-- (var delinquency_window_days, ending on the as-of day) plus every month-end since the first
-- disbursement. Daily history older than the window is kept only at month-ends, which is what
-- portfolio reporting (RBI returns, lender MIS) reads, and keeps the fact's size bounded.
with digits as (
    select 0 as n union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

offsets as (
    select d1.n + 10 * d2.n + 100 * d3.n + 1000 * d4.n as n
    from digits as d1
    cross join digits as d2
    cross join digits as d3
    cross join digits as d4
),

bounds as (
    select
        {{ tierflow.as_of_date('(select max(' ~ tierflow.to_date('created_at') ~ ') from ' ~ ref('stg_lms__loan_transactions') ~ ')') }} as as_of_day,
        (select min({{ tierflow.to_date('disbursed_at') }}) from {{ ref('stg_lms__loans') }}) as first_day
),

window_days as (
    select cast({{ dbt.dateadd('day', '-1 * offsets.n', 'bounds.as_of_day') }} as date) as report_day
    from offsets
    cross join bounds
    where offsets.n < {{ var('delinquency_window_days') | int }}
),

month_ends as (
    select cast({{ dbt.last_day(dbt.dateadd('month', '-1 * offsets.n', 'bounds.as_of_day'), 'month') }} as date) as report_day
    from offsets
    cross join bounds
    -- 20 years of month-ends is more history than the lender has.
    where offsets.n < 240
),

candidate_days as (
    select report_day from window_days
    union
    select report_day from month_ends
)

select
    candidate_days.report_day,
    candidate_days.report_day = cast({{ dbt.last_day('candidate_days.report_day', 'month') }} as date) as is_month_end,
    candidate_days.report_day > cast({{ dbt.dateadd('day', -1 * var('delinquency_window_days') | int, 'bounds.as_of_day') }} as date) as is_in_window
from candidate_days
cross join bounds
where candidate_days.report_day <= bounds.as_of_day
  and candidate_days.report_day >= bounds.first_day
