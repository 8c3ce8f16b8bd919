"""
### hot_tier_reconcile

Nightly check of the Redis hot tier against MySQL, its source of truth (03:30 IST, a quiet hour for
the decision engines). Events keep the hot tier current during the day; this run catches what events
missed. It recomputes every customer's hot window from MySQL, writes missing or stale entries,
evicts entries MySQL no longer has, trims entries past the window and recomputes the features,
all through the same idempotent writes the consumer uses, so it is safe while the consumer runs.

The number of drifted keys is stored in Redis (`tierflow:hot:reconcile:last`) and shown by the tier
report (`tierflow tiers report`, DAG `tier_audit`). A non-zero drift is a finding, not a failure.
Same as `tierflow hot reconcile`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS


@dag(
    dag_id="hot_tier_reconcile",
    schedule=CronTriggerTimetable("30 3 * * *", timezone="Asia/Kolkata"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Kolkata"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "hot"],
    doc_md=__doc__,
)
def hot_tier_reconcile():
    @task
    def apply_memory_budget() -> dict:
        """Cap Redis at the policy's hot.max_memory_mb (volatile-ttl eviction); report its use."""
        from tierflow.hot.store import HotStore
        from tierflow.policy import load_policy
        from tierflow.stores import redis as redis_store
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        with retry_only_transient():
            settings = TierflowHook().get_settings()
            store = HotStore(redis_store.client(settings.redis_url), load_policy(settings.policy_path))
            applied = store.apply_memory_budget()
            return {**store.memory(), "budget_applied": applied}

    @task
    def reconcile_hot_tier(memory: dict) -> dict:
        """Repair the hot tier from MySQL; return the drift counts (the XCom carries counts only)."""
        from tierflow.hot.reconcile import reconcile
        from tierflow.hot.store import HotStore
        from tierflow.log import get_logger
        from tierflow.policy import load_policy
        from tierflow.stores import redis as redis_store
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        with retry_only_transient():
            settings = TierflowHook().get_settings()
            store = HotStore(redis_store.client(settings.redis_url), load_policy(settings.policy_path))
            result = reconcile(settings.mysql_url, store)
        if result["drifted_keys"]:
            get_logger("hot_tier_reconcile").warning(
                "hot_tier_drift_repaired",
                drifted_keys=result["drifted_keys"],
                drifted_customers=result["drifted_customers"],
            )
        return {**result, "redis_used_bytes": memory["used_bytes"]}

    reconcile_hot_tier(apply_memory_budget())


hot_tier_reconcile()
