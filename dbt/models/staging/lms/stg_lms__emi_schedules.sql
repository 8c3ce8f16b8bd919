select
    cast(id as {{ dbt.type_bigint() }}) as emi_id,
    cast(loan_id as {{ dbt.type_bigint() }}) as loan_id,
    cast(installment_no as integer) as installment_no,
    cast(due_date as date) as due_date,
    cast(due_amount as numeric(12, 2)) as due_amount,
    cast(paid_amount as numeric(12, 2)) as paid_amount,
    cast(paid_at as {{ dbt.type_timestamp() }}) as paid_at,
    status as emi_status,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    _loaded_at
from {{ source('lms', 'emi_schedules') }}
