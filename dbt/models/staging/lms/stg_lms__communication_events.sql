select
    cast(id as {{ dbt.type_bigint() }}) as communication_event_id,
    cast(communication_id as {{ dbt.type_bigint() }}) as communication_id,
    event_type,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    _loaded_at
from {{ source('lms', 'communication_events') }}
