"""Gather the query history the settings point at: the warehouse (pg_stat_statements locally,
SYS_QUERY_HISTORY on Redshift), Athena when a workgroup is named, and the ``tierflow query`` journal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tierflow.advisor import history
from tierflow.advisor.history import QueryRun
from tierflow.log import get_logger

log = get_logger("tierflow.advisor.collect")


def athena_client(settings: Any) -> Any:
    import boto3

    return boto3.client("athena", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)


def collect(
    settings: Any,
    since: datetime,
    *,
    conn: Any = None,
    athena_workgroup: str | None = None,
    min_calls: int = 1,
) -> list[QueryRun]:
    """Every engine's runs since ``since`` (pg_stat_statements: since its last reset)."""
    from tierflow.stores import warehouse

    runs: list[QueryRun] = []
    url = settings.warehouse_url
    if url:
        if warehouse.is_redshift(url):
            with warehouse.connection(url, autocommit=True) as rs:
                runs += history.redshift_history(rs, since)
        elif conn is not None:
            runs += history.postgres_history(conn, min_calls=min_calls)
    workgroup = athena_workgroup or settings.athena_workgroup
    if workgroup:
        runs += history.athena_history(athena_client(settings), since, workgroup=workgroup)
    runs += history.journal_history(since, path=settings.query_journal)
    log.info("advisor.history.collected", runs=len(runs), since=since.isoformat())
    return runs


def run(
    settings: Any,
    since: datetime,
    now: datetime,
    *,
    min_calls: int = 3,
    top: int | None = None,
    athena_workgroup: str | None = None,
) -> list[Any]:
    """Collect the history and advise: the candidates, proved on the local warehouse (a Redshift
    warehouse's history is ranked but not proved: the proof runs on PostgreSQL only)."""
    from tierflow.advisor.advise import advise
    from tierflow.stores import warehouse

    window_days = (now - since).total_seconds() / 86400
    url = settings.warehouse_url
    if url and not warehouse.is_redshift(url):
        with warehouse.connection(url, autocommit=True) as conn:
            runs = collect(settings, since, conn=conn, athena_workgroup=athena_workgroup)
            return advise(conn, runs, min_calls=min_calls, top=top, window_days=window_days, since=since)
    runs = collect(settings, since, athena_workgroup=athena_workgroup)
    return advise(None, runs, min_calls=min_calls, top=top, window_days=window_days)
