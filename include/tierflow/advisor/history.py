"""Query history readers, one per engine: PostgreSQL's pg_stat_statements, Redshift's
SYS_QUERY_HISTORY, Athena's query executions, and the journal of ``tierflow query``.

Each returns :class:`QueryRun` rows: a query text in its engine's dialect, how often it ran and what
it cost. Nothing here interprets the SQL; ``fingerprint`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tierflow.log import get_logger

log = get_logger("tierflow.advisor.history")

POSTGRES, REDSHIFT, ATHENA, TIERFLOW = "postgres", "redshift", "athena", "tierflow"
DIALECTS = {POSTGRES: "postgres", REDSHIFT: "redshift", ATHENA: "athena", TIERFLOW: "duckdb"}


@dataclass(frozen=True)
class QueryRun:
    """``calls`` executions of ``sql`` on ``source`` costing ``total_ms`` of elapsed time together
    (``scanned_bytes`` too where the engine bills by data scanned). ``at`` is the last execution,
    when the engine keeps it."""

    source: str
    sql: str
    calls: int
    total_ms: float
    at: datetime | None = None
    scanned_bytes: int | None = None
    queue_ms: float = 0.0
    engine_hash: str | None = None

    @property
    def dialect(self) -> str:
        return DIALECTS[self.source]


def _is_query(sql: str) -> bool:
    """A SELECT an analyst could have written: not DML/DDL, and not one of dbt's own statements
    (dbt heads each with its query comment, ``/* {"app": "dbt", ...} */``)."""
    if '"app": "dbt"' in sql[:200]:
        return False
    head = sql.lstrip().lstrip("(").lower()
    return head.startswith(("select", "with"))


# --- PostgreSQL -------------------------------------------------------------------------------

PG_STAT_SQL = """
SELECT s.query, s.calls, s.total_exec_time, s.queryid
FROM pg_stat_statements s
JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.toplevel AND s.calls >= %(min_calls)s
ORDER BY s.total_exec_time DESC
"""


def ensure_pg_stat_statements(conn: Any) -> bool:
    """Create the extension in this database when the server preloads it; True when readable."""
    row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    if "pg_stat_statements" not in (row[0] or ""):
        return False
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return True


def postgres_history(conn: Any, *, min_calls: int = 1) -> list[QueryRun]:
    """The statements pg_stat_statements holds for the connection's database (cumulative since its
    last reset: the server keeps no per-call times). Literals are already ``$n`` parameters."""
    if not ensure_pg_stat_statements(conn):
        log.warning("advisor.history.pg_stat_statements_missing")
        return []
    runs = []
    for query, calls, total_ms, queryid in conn.execute(PG_STAT_SQL, {"min_calls": min_calls}).fetchall():
        if _is_query(query):
            runs.append(QueryRun(POSTGRES, query, int(calls), float(total_ms), engine_hash=str(queryid)))
    return runs


def quiet(conn: Any) -> None:
    """Keep the advisor's own replays out of pg_stat_statements (superuser only; else they count)."""
    try:
        conn.execute("SET pg_stat_statements.track = 'none'")
    except Exception:  # noqa: BLE001 - not a superuser, or no extension: the replays are counted
        conn.rollback()


# --- Redshift ---------------------------------------------------------------------------------

# SYS_QUERY_HISTORY (Amazon Redshift Database Developer Guide): one row per query, times in
# microseconds, query_text cut at 4,000 characters. user_query_hash includes the literals, so each
# group is one literal set of one generic_query_hash shape.
REDSHIFT_HISTORY_SQL = """
SELECT generic_query_hash, user_query_hash, MIN(query_text) AS query_text, COUNT(*) AS calls,
       SUM(elapsed_time) / 1000.0 AS total_ms, SUM(queue_time) / 1000.0 AS queue_ms,
       MAX(end_time) AS last_at
FROM sys_query_history
WHERE query_type = 'SELECT' AND status = 'success' AND start_time >= %s
GROUP BY generic_query_hash, user_query_hash
"""


def redshift_history(conn: Any, since: datetime) -> list[QueryRun]:
    """SELECTs that succeeded on Redshift since ``since``, grouped by literal set."""
    cur = conn.cursor()
    cur.execute(REDSHIFT_HISTORY_SQL, (since.replace(tzinfo=None),))
    runs = []
    for generic, _user, text, calls, total_ms, queue_ms, last_at in cur.fetchall():
        if text and _is_query(text):
            runs.append(
                QueryRun(
                    REDSHIFT,
                    text,
                    int(calls),
                    float(total_ms),
                    at=last_at,
                    queue_ms=float(queue_ms or 0),
                    engine_hash=str(generic),
                )
            )
    return runs


# --- Athena -----------------------------------------------------------------------------------


def athena_history(client: Any, since: datetime, *, workgroup: str = "primary") -> list[QueryRun]:
    """Succeeded DML executions of ``workgroup`` submitted since ``since``; the cost is the engine
    time, with the data scanned beside it. Executions are read 50 at a time
    (BatchGetQueryExecution), one by one where the endpoint lacks that call (moto)."""
    ids: list[str] = []
    token = None
    while True:
        page = client.list_query_executions(WorkGroup=workgroup, **({"NextToken": token} if token else {}))
        ids.extend(page.get("QueryExecutionIds", []))
        token = page.get("NextToken")
        if not token:
            break
    runs = []
    for qe in _executions(client, ids):
        status = qe.get("Status", {})
        at = status.get("SubmissionDateTime")
        if status.get("State") != "SUCCEEDED" or qe.get("StatementType", "DML") != "DML":
            continue
        if at is not None and at.astimezone(UTC) < since.astimezone(UTC):
            continue
        stats = qe.get("Statistics", {})
        runs.append(
            QueryRun(
                ATHENA,
                qe["Query"],
                1,
                float(stats.get("EngineExecutionTimeInMillis", 0)),
                at=at,
                scanned_bytes=int(stats.get("DataScannedInBytes", 0)),
                queue_ms=float(stats.get("QueryQueueTimeInMillis", 0)),
                engine_hash=qe.get("QueryExecutionId"),
            )
        )
    return runs


def _executions(client: Any, ids: list[str]) -> Iterator[dict[str, Any]]:
    for start in range(0, len(ids), 50):
        chunk = ids[start : start + 50]
        try:
            yield from client.batch_get_query_execution(QueryExecutionIds=chunk).get("QueryExecutions", [])
        except NotImplementedError:  # moto implements GetQueryExecution only
            for qid in chunk:
                yield client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]


# --- tierflow's own journal -------------------------------------------------------------------


def journal_history(since: datetime, *, path: Path) -> list[QueryRun]:
    """The executions ``tierflow query`` journaled at ``path`` (``tierflow.query.record``) since
    ``since``, one QueryRun each."""
    target = path
    if not target.is_file():
        return []
    return list(_read_journal(target.read_text(encoding="utf-8").splitlines(), since))


def _read_journal(lines: Iterable[str], since: datetime) -> Iterator[QueryRun]:
    for line in lines:
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["at"])
        except (ValueError, KeyError):
            continue  # a torn last line
        if at >= since and _is_query(entry["sql"]):
            yield QueryRun(entry.get("source", TIERFLOW), entry["sql"], 1, float(entry["elapsed_ms"]), at=at)


def as_dict(run: QueryRun) -> dict[str, Any]:
    out = asdict(run)
    out["at"] = run.at.isoformat() if run.at else None
    return out
