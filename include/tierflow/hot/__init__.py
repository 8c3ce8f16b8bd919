"""The Redis hot tier: per-customer recent activity and features, kept current by events."""

from tierflow.hot.stats import hot_tier_stats, last_reconcile
from tierflow.hot.store import HotStore

__all__ = ["HotStore", "hot_tier_stats", "last_reconcile"]
