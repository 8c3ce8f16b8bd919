-- PowerBI / Redash: campaign funnel per send day, campaign and channel; rates in percent.
select
    send_day as day,
    campaign_code as campaign,
    channel,
    communications,
    sent,
    delivered,
    opened,
    clicked,
    bounced,
    failed,
    cast(100 * delivery_rate as numeric(7, 2)) as delivery_rate_pct,
    cast(100 * open_rate as numeric(7, 2)) as open_rate_pct,
    cast(100 * click_rate as numeric(7, 2)) as click_rate_pct,
    cast(100 * click_to_open_rate as numeric(7, 2)) as click_to_open_rate_pct
from {{ ref('fct_campaign_funnel_daily') }}
