-- One row per communication with a flag per funnel stage it reached, from its events
-- (one event row per communication and event type in the source).
with events as (
    select
        communication_id,
        max(case when event_type = 'sent' then 1 else 0 end) as was_sent,
        max(case when event_type = 'delivered' then 1 else 0 end) as was_delivered,
        max(case when event_type = 'opened' then 1 else 0 end) as was_opened,
        max(case when event_type = 'clicked' then 1 else 0 end) as was_clicked,
        max(case when event_type = 'bounced' then 1 else 0 end) as was_bounced,
        max(case when event_type = 'failed' then 1 else 0 end) as was_failed,
        max(created_at) as last_event_at
    from {{ ref('stg_lms__communication_events') }}
    group by communication_id
)

select
    communications.communication_id,
    communications.customer_id,
    communications.campaign_code,
    communications.channel,
    {{ tierflow.to_date('communications.created_at') }} as send_day,
    communications.updated_at,
    coalesce(events.was_sent, 0) as was_sent,
    coalesce(events.was_delivered, 0) as was_delivered,
    coalesce(events.was_opened, 0) as was_opened,
    coalesce(events.was_clicked, 0) as was_clicked,
    coalesce(events.was_bounced, 0) as was_bounced,
    coalesce(events.was_failed, 0) as was_failed,
    events.last_event_at
from {{ ref('stg_lms__communications') }} as communications
left join events
    on communications.communication_id = events.communication_id
