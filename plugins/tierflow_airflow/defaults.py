"""Default arguments shared by every tierflow DAG (never copied into a DAG file)."""

from datetime import timedelta

DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
}

TAGS = ["tierflow"]
