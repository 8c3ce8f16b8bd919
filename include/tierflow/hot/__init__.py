"""The Redis hot tier: per-customer recent activity and features, kept current by events."""

from tierflow.hot.store import HotStore

__all__ = ["HotStore"]
