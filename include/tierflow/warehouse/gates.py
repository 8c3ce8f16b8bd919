"""Quality gates that run as SQL on the warehouse: a staged ``raw_audit`` batch before it is merged
into ``raw``, and each audit mart before it is published. Suites live in
``expectations/warehouse/<table>.json`` and ``expectations/marts/<mart>.json`` (tierflow.quality).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierflow.quality import (
    SAMPLE_SIZE,
    ExpectationFailure,
    QualityGateError,
    load_suite,
    suite_path,
)
from tierflow.urls import is_redshift, parse

if TYPE_CHECKING:
    from tierflow.config import Settings

RAW_GATE = "warehouse"
MART_GATE = "marts"

_lock = threading.Lock()
_context = None
_sources: dict[str, Any] = {}
_assets: dict[tuple[str, str, str], Any] = {}


def sqlalchemy_url(warehouse_url: str) -> str:
    """The SQLAlchemy URL GX connects with, its dialect chosen by the target: Redshift's own
    (sqlalchemy-redshift over redshift_connector) for ``redshift://``, psycopg2 for PostgreSQL.
    SQLAlchemy's PostgreSQL dialect opens each connection with ``show standard_conforming_strings``,
    which Redshift refuses (sqlalchemy#9442); the Redshift dialect does not send it."""
    from sqlalchemy.engine import URL

    u = parse(warehouse_url)
    redshift = is_redshift(warehouse_url)
    return URL.create(
        "redshift+redshift_connector" if redshift else "postgresql+psycopg2",
        # on Redshift the IAM sign-in is in connect_args()
        username=None if redshift else u.user or "postgres",
        password=None if redshift else u.password,
        host=u.host,
        port=u.port or (5439 if redshift else 5432),
        database=u.database,
    ).render_as_string(hide_password=False)


def reset() -> None:
    """Forget the GX context, its data sources and their pooled connections (the next gate
    connects afresh)."""
    global _context
    with _lock:
        for source in _sources.values():
            try:
                source.get_engine().dispose()
            except Exception:  # noqa: BLE001, S110 - a source that never connected has no engine
                pass
        _sources.clear()
        _assets.clear()
        _context = None


def engine_kwargs(warehouse_url: str, aws: Settings | None = None) -> dict[str, Any]:
    """create_engine() arguments beside the URL: on Redshift the same IAM sign-in as every other
    step (``stores.warehouse.redshift_connect_kwargs``, with ``aws``'s region and keys)."""
    from tierflow.stores.warehouse import redshift_connect_kwargs

    if not is_redshift(warehouse_url):
        return {}
    return {"connect_args": redshift_connect_kwargs(warehouse_url, aws=aws)}


def _batch_definition(warehouse_url: str, schema: str, table: str, aws: Settings | None = None):
    """One ephemeral GX context per process; one SQL data source per warehouse; cached assets."""
    global _context
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if _context is None:
        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if warehouse_url not in _sources:
        name = f"warehouse_{len(_sources)}"
        # GX's own Redshift data source accepts only redshift+psycopg2: the generic SQL one takes
        # the Redshift dialect's URL
        add = (
            _context.data_sources.add_sql
            if is_redshift(warehouse_url)
            else _context.data_sources.add_postgres
        )
        extra = engine_kwargs(warehouse_url, aws)
        options: dict[str, Any] = {"kwargs": extra} if extra else {}
        _sources[warehouse_url] = add(name, connection_string=sqlalchemy_url(warehouse_url), **options)
    key = (warehouse_url, schema, table)
    if key not in _assets:
        asset = _sources[warehouse_url].add_table_asset(
            name=f"{schema}.{table}", table_name=table, schema_name=schema
        )
        _assets[key] = asset.add_batch_definition_whole_table("whole")
    return _assets[key]


def validate_table(
    warehouse_url: str,
    schema: str,
    table: str,
    suite,
    *,
    dataset: str,
    key_column: str | None = None,
    suite_file=None,
    aws: Settings | None = None,
) -> None:
    """Validate the whole warehouse table ``schema.table``; raise QualityGateError naming each
    failing expectation with sample values (and sample keys when ``key_column`` is given)."""
    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    if key_column:
        result_format = {
            "result_format": "COMPLETE",
            "unexpected_index_column_names": [key_column],
            "partial_unexpected_count": SAMPLE_SIZE,
        }
    with _lock:
        batch = _batch_definition(warehouse_url, schema, table, aws).get_batch()
        # A pass needs only the verdicts (about half the queries); details only on a failure.
        result = batch.validate(suite, result_format={"result_format": "BOOLEAN_ONLY"})
        if not result.success:
            result = batch.validate(suite, result_format=result_format)
    if result.success:
        return
    failures = []
    for res in result.results:
        if res.success:
            continue
        cfg = res.expectation_config
        details = res.result or {}
        kwargs = dict(cfg.kwargs)
        exc_info = res.exception_info or {}
        if exc_info.get("raised_exception"):
            kwargs["error"] = str(exc_info.get("exception_message"))[:200]
        keys = details.get("unexpected_index_list") or []
        keys = [k.get(key_column, k) if isinstance(k, dict) else k for k in keys[:SAMPLE_SIZE]]
        failures.append(
            ExpectationFailure(
                type=cfg.type,
                column=cfg.kwargs.get("column"),
                kwargs=kwargs,
                unexpected_count=details.get("unexpected_count"),
                sample_values=list(details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE],
                sample_keys=keys,
            )
        )
    raise QualityGateError(dataset, failures, suite_file)


def check_batch(
    warehouse_url: str,
    schema: str,
    table: str,
    *,
    root: Path | None = None,
    aws: Settings | None = None,
) -> None:
    """The gate of a staged batch: ``<root>/warehouse/<table>.json`` on ``schema.table``
    (``root``: ``Settings.expectations_dir``; ``aws``: the settings Redshift signs in with)."""
    suite = load_suite(RAW_GATE, table, root)
    key = (suite.meta or {}).get("key_column", "id")
    validate_table(
        warehouse_url,
        schema,
        table,
        suite,
        dataset=f"{schema}.{table}",
        key_column=key,
        suite_file=suite_path(RAW_GATE, table, root),
        aws=aws,
    )


def has_mart_suite(mart: str, root: Path | None = None) -> bool:
    return suite_path(MART_GATE, mart, root).is_file()


def mart_window(conn, suite, schema: str, mart: str, lookback_days: int) -> str | None:
    """The rows an incremental build rewrote, for a suite whose meta names the mart's
    ``incremental_window_column`` (a delete+insert model rebuilding its last ``lookback_days``):
    ``column >= <max(column) - lookback_days>``, the bound read first so that the checks use the
    column's index. None when the suite names no such column or the mart is empty."""
    from tierflow.warehouse.columns import quote
    from tierflow.warehouse.sql import qualified

    column = (suite.meta or {}).get("incremental_window_column")
    if not column:
        return None
    col = quote(column)
    since = conn.execute(
        f"SELECT max({col}) - {int(lookback_days)} FROM {qualified(schema, mart)}"  # noqa: S608 - quoted names, an int
    ).fetchone()[0]
    if since is None:
        return None
    # a date the warehouse returned, written back as an ISO literal
    return f"{col} >= '{since.isoformat()}'"


def check_mart(
    warehouse_url: str,
    schema: str,
    mart: str,
    *,
    lookback_days: int | None = None,
    root: Path | None = None,
    aws: Settings | None = None,
) -> str | None:
    """The gate of an audit mart: ``expectations/marts/<mart>.json`` on ``schema.mart``.

    ``lookback_days`` (an incremental build): a suite naming an ``incremental_window_column``
    checks only the days that build rewrote (older days were checked when they were built). Those
    rows are first copied into a scratch table beside the mart, so that each expectation's query
    reads them alone rather than scanning the whole mart. Returns the row filter used, if any."""
    from tierflow.stores import warehouse
    from tierflow.warehouse.sql import qualified

    suite = load_suite(MART_GATE, mart, root)
    where = None
    scratch_name = f"_tierflow_gate_{mart}"[:127]
    scratch = qualified(schema, scratch_name)
    if lookback_days is not None and (suite.meta or {}).get("incremental_window_column"):
        with warehouse.connection(warehouse_url, aws=aws) as conn:
            where = mart_window(conn, suite, schema, mart, lookback_days)
            if where:
                conn.execute(f"DROP TABLE IF EXISTS {scratch}")
                conn.execute(
                    f"CREATE TABLE {scratch} AS SELECT * FROM {qualified(schema, mart)} WHERE {where}"  # noqa: S608 - quoted names, the suite's window
                )
            conn.commit()
    try:
        validate_table(
            warehouse_url,
            schema,
            scratch_name if where else mart,
            suite,
            dataset=f"{schema}.{mart}" + (f" where {where}" if where else ""),
            suite_file=suite_path(MART_GATE, mart, root),
            aws=aws,
        )
    finally:
        if where:
            with warehouse.connection(warehouse_url, aws=aws) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {scratch}")
                conn.commit()
    return where
