-- Borrowers, renamed and typed. full_name is dropped here: no mart needs it.
select
    cast(id as {{ dbt.type_bigint() }}) as customer_id,
    cast(phone as {{ dbt.type_string() }}) as phone,
    cast(email as {{ dbt.type_string() }}) as email,
    cast(pan as {{ dbt.type_string() }}) as pan,
    cast(date_of_birth as date) as date_of_birth,
    cast(city as {{ dbt.type_string() }}) as city,
    cast(state as {{ dbt.type_string() }}) as state,
    cast(kyc_status as {{ dbt.type_string() }}) as kyc_status,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    _loaded_at
from {{ source('lms', 'customers') }}
