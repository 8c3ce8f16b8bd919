select
    cast(id as {{ dbt.type_bigint() }}) as communication_id,
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    cast(campaign_code as {{ dbt.type_string() }}) as campaign_code,
    cast(channel as {{ dbt.type_string() }}) as channel,
    cast(template_code as {{ dbt.type_string() }}) as template_code,
    cast(status as {{ dbt.type_string() }}) as communication_status,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    _loaded_at
from {{ source('lms', 'communications') }}
