select
    cast(id as {{ dbt.type_bigint() }}) as loan_id,
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    product,
    cast(principal as numeric(14, 2)) as principal_amount,
    cast(interest_rate_pct as numeric(5, 2)) as interest_rate_pct,
    cast(tenure_months as integer) as tenure_months,
    status as loan_status,
    cast(applied_at as {{ dbt.type_timestamp() }}) as applied_at,
    cast(approved_at as {{ dbt.type_timestamp() }}) as approved_at,
    cast(disbursed_at as {{ dbt.type_timestamp() }}) as disbursed_at,
    cast(closed_at as {{ dbt.type_timestamp() }}) as closed_at,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    _loaded_at
from {{ source('lms', 'loans') }}
