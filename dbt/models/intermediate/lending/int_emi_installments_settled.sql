-- Each instalment with the day it stopped being owed (settled_on), which is what ageing needs:
-- an instalment is overdue on day D when due_date < D and it is not settled by D.
-- A waived instalment counts as settled on its due date (never overdue). Partly paid instalments
-- stay unsettled; their payment still reduces the outstanding balance from paid_on.
select
    emi_id,
    loan_id,
    installment_no,
    due_date,
    due_amount,
    paid_amount,
    {{ tierflow.to_date('paid_at') }} as paid_on,
    emi_status,
    case
        when emi_status = 'waived' then due_date
        when paid_at is not null and (paid_amount >= due_amount or emi_status in ('paid', 'late'))
            then {{ tierflow.to_date('paid_at') }}
    end as settled_on,
    -- What leaves the outstanding balance, and when: the whole instalment once settled, else the
    -- part-payment on the day it was made.
    case
        when emi_status = 'waived' then due_date
        else {{ tierflow.to_date('paid_at') }}
    end as reduced_on,
    case
        when emi_status = 'waived' then due_amount
        when paid_at is not null and (paid_amount >= due_amount or emi_status in ('paid', 'late'))
            then due_amount
        when paid_at is not null then least(paid_amount, due_amount)
        else cast(0 as numeric(12, 2))
    end as reduced_amount,
    _loaded_at
from {{ ref('stg_lms__emi_schedules') }}
