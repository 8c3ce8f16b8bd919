select
    cast(id as {{ dbt.type_bigint() }}) as communication_id,
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    campaign_code,
    channel,
    template_code,
    status as communication_status,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    _loaded_at
from {{ source('lms', 'communications') }}
