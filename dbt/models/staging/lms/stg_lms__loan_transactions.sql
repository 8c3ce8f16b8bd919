-- metadata (gateway payload JSON) stays in raw: no mart reads it and it is wide.
select
    cast(id as {{ dbt.type_bigint() }}) as transaction_id,
    cast(loan_id as {{ dbt.type_bigint() }}) as loan_id,
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    cast(txn_type as {{ dbt.type_string() }}) as txn_type,
    cast(amount as numeric(14, 2)) as amount,
    cast(currency as {{ dbt.type_string() }}) as currency,
    cast(installment_no as integer) as installment_no,
    cast(gateway as {{ dbt.type_string() }}) as gateway,
    cast(gateway_ref as {{ dbt.type_string() }}) as gateway_ref,
    cast(status as {{ dbt.type_string() }}) as txn_status,
    cast(failure_reason as {{ dbt.type_string() }}) as failure_reason,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    _loaded_at
from {{ source('lms', 'loan_transactions') }}
