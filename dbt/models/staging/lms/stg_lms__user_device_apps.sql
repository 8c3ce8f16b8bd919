select
    cast(id as {{ dbt.type_bigint() }}) as device_app_id,
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    package_name,
    app_name,
    category,
    cast(installed_at as {{ dbt.type_timestamp() }}) as installed_at,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    _loaded_at
from {{ source('lms', 'user_device_apps') }}
