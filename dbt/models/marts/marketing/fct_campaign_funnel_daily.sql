{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['send_day', 'campaign_code', 'channel'],
    on_schema_change='append_new_columns',
    dist='even',
    sort=['send_day'],
) }}
-- Delivery funnel per send day, campaign and channel. Each stage counts communications that
-- reached it; rates are stage over previous stage (delivery = delivered/sent, open =
-- opened/delivered, click-to-open = clicked/opened) plus click rate = clicked/delivered.
-- Opens and clicks arrive days after the send, so an incremental run redoes every send day
-- with an event in the lookback window, not just the newest days.
with funnel as (
    select *
    from {{ ref('int_communications_funnelled') }}
    {% if is_incremental() %}
    where send_day in (
        select send_day
        from {{ ref('int_communications_funnelled') }}
        where send_day >= {{ tierflow.lookback_start('send_day') }}
           or {{ tierflow.to_date('last_event_at') }} >= {{ tierflow.lookback_start('send_day') }}
           or {{ tierflow.to_date('updated_at') }} >= {{ tierflow.lookback_start('send_day') }}
    )
    {% endif %}
),

stages as (
    select
        send_day,
        campaign_code,
        channel,
        count(*) as communications,
        sum(was_sent) as sent,
        sum(was_delivered) as delivered,
        sum(was_opened) as opened,
        sum(was_clicked) as clicked,
        sum(was_bounced) as bounced,
        sum(was_failed) as failed
    from funnel
    group by 1, 2, 3
)

select
    send_day,
    campaign_code,
    channel,
    cast(communications as integer) as communications,
    cast(sent as integer) as sent,
    cast(delivered as integer) as delivered,
    cast(opened as integer) as opened,
    cast(clicked as integer) as clicked,
    cast(bounced as integer) as bounced,
    cast(failed as integer) as failed,
    {{ tierflow.safe_ratio('delivered', 'sent') }} as delivery_rate,
    {{ tierflow.safe_ratio('opened', 'delivered') }} as open_rate,
    {{ tierflow.safe_ratio('clicked', 'delivered') }} as click_rate,
    {{ tierflow.safe_ratio('clicked', 'opened') }} as click_to_open_rate
from stages
