-- Collections / "Reminder funnel": sends, deliveries, opens and clicks per campaign and channel
-- over the last 30 days of data, with the stage rates.
select
    campaign,
    channel,
    sum(sent) as sent,
    sum(delivered) as delivered,
    sum(opened) as opened,
    sum(clicked) as clicked,
    round(100.0 * sum(delivered) / nullif(sum(sent), 0), 2) as delivery_rate_pct,
    round(100.0 * sum(opened) / nullif(sum(delivered), 0), 2) as open_rate_pct,
    round(100.0 * sum(clicked) / nullif(sum(delivered), 0), 2) as click_rate_pct
from analytics.rpt_campaign_funnel
where day > (select max(day) from analytics.rpt_campaign_funnel) - 30
group by campaign, channel
order by sent desc
