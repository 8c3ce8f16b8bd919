-- PowerBI / Redash: borrowers (hashed identifiers only) with their device-app profile.
select
    customers.customer_id,
    customers.age_band,
    customers.city,
    customers.state,
    customers.kyc_status,
    customers.customer_since,
    coalesce(apps.total_apps, 0) as total_apps,
    coalesce(apps.finance_apps, 0) as finance_apps,
    coalesce(apps.gaming_apps, 0) as gaming_apps,
    coalesce(apps.social_apps, 0) as social_apps,
    coalesce(apps.other_apps, 0) as other_apps,
    apps.last_seen_at as apps_last_seen_at
from {{ ref('dim_customers') }} as customers
left join {{ ref('fct_customer_app_profile') }} as apps
    on apps.customer_id = customers.customer_id
