-- Borrowers, renamed and typed. full_name is dropped here: no mart needs it.
select
    cast(id as {{ dbt.type_bigint() }}) as customer_id,
    phone,
    email,
    pan,
    cast(date_of_birth as date) as date_of_birth,
    city,
    state,
    kyc_status,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    _loaded_at
from {{ source('lms', 'customers') }}
