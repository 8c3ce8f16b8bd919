-- Collections / "Gateways": attempts, failures and success rate per gateway over the last 30 days
-- of data; the gateway with the worst rate first (where a switch of default gateway pays most).
select
    gateway,
    sum(attempts) as attempts,
    sum(succeeded) as succeeded,
    sum(failed) as failed,
    sum(pending) as pending,
    sum(amount_collected_inr) as amount_collected_inr,
    round(100.0 * sum(succeeded) / nullif(sum(attempts), 0), 2) as success_rate_pct
from analytics.rpt_daily_collections
where day > (select max(day) from analytics.rpt_daily_collections) - 30
group by gateway
order by success_rate_pct, attempts desc
