-- Collections / "Daily collections": amount collected and attempt success rate per day over the
-- last 30 days of data, all gateways.
select
    day,
    sum(attempts) as attempts,
    sum(succeeded) as succeeded,
    sum(failed) as failed,
    sum(amount_collected_inr) as amount_collected_inr,
    round(100.0 * sum(succeeded) / nullif(sum(attempts), 0), 2) as success_rate_pct
from analytics.rpt_daily_collections
where day > (select max(day) from analytics.rpt_daily_collections) - 30
group by day
order by day
