{{ config(
    materialized='incremental',
    incremental_strategy='replace_scope',
    rebuild_scope='delinquency_rebuild_scope',
    unique_key=['report_day', 'loan_id'],
    on_schema_change='append_new_columns',
    dist='loan_id',
    sort=['report_day', 'loan_id'],
    post_hook="{{ tierflow.delete_days_not_in(this, 'report_day', ref('int_reporting_days')) }}",
) }}
-- depends_on: {{ ref('int_loans_changed') }} (the rebuild scope reads it)
-- An incremental build replaces its rebuild scope (macros/incremental.sql): the lookback days, and
-- in them only the loans whose data changed since this copy of the mart was built, plus every loan
-- on the new days. Every row of the scope is deleted first, so a loan that left the book (closed
-- or paid off, learnt late) leaves the mart too (macros/replace_scope.sql).
-- Days past due and ageing bucket per loan and report day (int_reporting_days: the recent window
-- plus month-ends). Only loans on the book that day: disbursed, not yet closed or written off, with
-- something still to pay. DPD = days since the due date of the oldest instalment still unpaid.
{%- set scope = tierflow.delinquency_rebuild_scope() %}
with report_days as (
    select report_day, is_month_end
    from {{ ref('int_reporting_days') }}
    {%- if is_incremental() %}
    where report_day >= cast('{{ scope.from_day }}' as date)
    {%- endif %}
),

loans as (
    select
        loan_id,
        customer_id,
        product,
        {{ tierflow.to_date('disbursed_at') }} as disbursed_on,
        {{ tierflow.to_date('closed_at') }} as closed_on
    from {{ ref('stg_lms__loans') }}
    where disbursed_at is not null
),

loan_days as (
    select
        loans.loan_id,
        loans.customer_id,
        loans.product,
        report_days.report_day,
        report_days.is_month_end
    from loans
    inner join report_days
        on report_days.report_day >= loans.disbursed_on
       and (loans.closed_on is null or report_days.report_day < loans.closed_on)
    {%- if is_incremental() and scope.changed_keys is not none %}
    left join {{ scope.changed_keys }} as changed
        on changed.loan_id = loans.loan_id
    where report_days.report_day > cast('{{ scope.newest_day }}' as date)
       or changed.loan_id is not null
    {%- endif %}
),

installments as (
    select *
    from {{ ref('int_emi_installments_settled') }}
    where loan_id in (select loan_id from loan_days)
),

overdue as (
    select
        loan_days.loan_id,
        loan_days.report_day,
        min(installments.due_date) as oldest_unpaid_due_date,
        count(*) as overdue_installments,
        sum(installments.due_amount
            - case when installments.paid_on <= loan_days.report_day then installments.reduced_amount else 0 end
        ) as overdue_amount
    from loan_days
    inner join installments
        on installments.loan_id = loan_days.loan_id
       and installments.due_date < loan_days.report_day
       and (installments.settled_on is null or installments.settled_on > loan_days.report_day)
    group by 1, 2
),

-- Outstanding balance on each report day as a running sum over the loan's reductions, so the cost
-- is one sort of (instalments + loan days), not instalments x days.
total_due as (
    select loan_id, sum(due_amount) as total_due_amount
    from installments
    group by 1
),

balance_events as (
    select loan_id, reduced_on as event_day, 0 as is_report_row, reduced_amount as amount
    from installments
    where reduced_on is not null
    union all
    select loan_id, report_day as event_day, 1 as is_report_row, 0 as amount
    from loan_days
),

reduced_to_date as (
    select
        loan_id,
        event_day as report_day,
        is_report_row,
        sum(amount) over (
            partition by loan_id
            order by event_day, is_report_row
            rows between unbounded preceding and current row
        ) as reduced_amount
    from balance_events
),

scored as (
    select
        loan_days.report_day,
        loan_days.loan_id,
        loan_days.customer_id,
        loan_days.product,
        loan_days.is_month_end,
        coalesce({{ dbt.datediff('overdue.oldest_unpaid_due_date', 'loan_days.report_day', 'day') }}, 0) as days_past_due,
        coalesce(overdue.overdue_installments, 0) as overdue_installments,
        coalesce(overdue.overdue_amount, 0) as overdue_amount,
        coalesce(total_due.total_due_amount, 0) - coalesce(reduced_to_date.reduced_amount, 0) as outstanding_amount
    from loan_days
    left join overdue
        on overdue.loan_id = loan_days.loan_id
       and overdue.report_day = loan_days.report_day
    left join total_due
        on total_due.loan_id = loan_days.loan_id
    left join reduced_to_date
        on reduced_to_date.loan_id = loan_days.loan_id
       and reduced_to_date.report_day = loan_days.report_day
       and reduced_to_date.is_report_row = 1
)

select
    report_day,
    loan_id,
    customer_id,
    product,
    cast(days_past_due as integer) as days_past_due,
    cast({{ tierflow.dpd_bucket('days_past_due') }} as {{ dbt.type_string() }}) as dpd_bucket,
    days_past_due > 90 as is_npa,
    cast(overdue_installments as integer) as overdue_installments,
    cast(overdue_amount as numeric(14, 2)) as overdue_amount,
    cast(outstanding_amount as numeric(14, 2)) as outstanding_amount,
    is_month_end
from scored
where outstanding_amount > 0 or days_past_due > 0
-- Written in day order, so each day's rows sit together on disk (PostgreSQL has no sort key): the
-- incremental deletes of whole days and the windowed tests then read a few pages per day instead
-- of the whole table. Redshift orders by the sort key above in any case.
order by report_day, loan_id
