-- metadata (gateway payload JSON) stays in raw: no mart reads it and it is wide.
select
    cast(id as {{ dbt.type_bigint() }}) as transaction_id,
    cast(loan_id as {{ dbt.type_bigint() }}) as loan_id,
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    txn_type,
    cast(amount as numeric(14, 2)) as amount,
    currency,
    cast(installment_no as integer) as installment_no,
    gateway,
    gateway_ref,
    status as txn_status,
    failure_reason,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    _loaded_at
from {{ source('lms', 'loan_transactions') }}
