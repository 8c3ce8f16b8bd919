"""The production load path: staged Parquet on S3 -> ``COPY ... FORMAT AS PARQUET`` into
``raw_audit`` -> gate -> MERGE into ``raw`` + watermark, over one IAM-authenticated
redshift_connector session as the loader (the sign-in that dbt, the gates and publish use too).

Target in the warehouse URL: ``redshift://tierflow_loader@<endpoint>:5439/db?cluster=<id>`` (or
``?workgroup=<name>`` on Serverless); ``&iam_role=arn:...`` is the role COPY reads S3 with.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.policy import TablePolicy
from tierflow.urls import parse
from tierflow.warehouse import AUDIT_SCHEMA, LOADED_AT, RAW_SCHEMA, WATERMARKS_TABLE
from tierflow.warehouse import sql as wsql
from tierflow.warehouse.columns import Column, quote


def copy_sql(table: str, columns: list[Column], s3_prefix: str, iam_role: str | None) -> str:
    """COPY every Parquet part of one staged batch into ``raw_audit.<table>``.

    Parquet columns map by position, so the staged file carries ``_loaded_at`` as its last column.
    """
    role = f"IAM_ROLE '{iam_role}'" if iam_role else "IAM_ROLE default"
    cols = ", ".join([quote(c.name) for c in columns] + [quote(LOADED_AT)])
    return (
        f"COPY {wsql.qualified(AUDIT_SCHEMA, table)} ({cols})\n"
        f"FROM '{s3_prefix.rstrip('/')}/'\n{role}\nFORMAT AS PARQUET"
    )


def publish_statements(table: TablePolicy, columns: list[Column]) -> list[str]:
    """The statements of the publish step, run as ONE transaction."""
    delete, insert = wsql.set_watermark_sql()
    return [
        wsql.changes_sql(table.name, columns, table.primary_key, wsql.REDSHIFT),
        wsql.merge_sql(table.name, columns, table.primary_key),
        f"DROP TABLE {quote(wsql.CHANGES_TABLE)}",
        delete.replace("%s", ":table_name"),
        insert.replace("%s", "{}").format(
            ":table_name", ":wm_column", ":wm_value", ":wm_pk", ":batch_id", ":rows", ":loaded_at"
        ),
    ]


def _with_loaded_at(page, loaded_at: datetime):
    import pyarrow as pa

    return page.append_column(
        pa.field(LOADED_AT, pa.timestamp("us"), nullable=False),
        pa.array([loaded_at] * page.num_rows, pa.timestamp("us")),
    )


def load_table_redshift(
    settings: Settings,
    table: TablePolicy,
    *,
    full_refresh: bool = False,
    lookback: timedelta = timedelta(days=3),
):
    """The Redshift variant of ``load.load_table`` (stage on S3, COPY, gate, MERGE)."""
    from tierflow.stores import warehouse
    from tierflow.stores.objects import store_for

    store = store_for(settings)
    if not store.uri.startswith("s3://"):
        raise TierflowError("a Redshift warehouse loads from S3: set TIERFLOW_ARCHIVE_URI to s3://...")

    iam_role = parse(settings.warehouse_url).query.get("iam_role")
    conn = warehouse.connect(settings.warehouse_url, autocommit=True)
    try:
        return _load(settings, conn, table, store, iam_role, full_refresh=full_refresh, lookback=lookback)
    finally:
        conn.close()


def _load(  # noqa: C901, PLR0915 -- to burn down
    settings: Settings,
    conn,
    table: TablePolicy,
    store,
    iam_role: str | None,
    *,
    full_refresh: bool,
    lookback: timedelta,
):
    import pyarrow.parquet as pq

    from tierflow.warehouse import gates
    from tierflow.warehouse.columns import arrow_schema, source_columns
    from tierflow.warehouse.load import (
        PAGE_ROWS,
        LoadReport,
        StagedKeys,
        Watermark,
        _now,
        _read_page,
        new_batch_id,
        staging_prefix,
        superseded_sql,
        watermark_column,
    )
    from tierflow.warehouse.raw_ddl import raw_table_ddl

    columns = source_columns(settings.mysql_url, table.name)
    schema = arrow_schema(columns)
    wm_col = watermark_column(table)
    batch_id, loaded_at = new_batch_id(), _now()
    report = LoadReport(table=table.name, batch_id=batch_id, full_refresh=full_refresh)

    for stmt in (
        f"CREATE SCHEMA IF NOT EXISTS {quote(RAW_SCHEMA)}",
        f"CREATE SCHEMA IF NOT EXISTS {quote(AUDIT_SCHEMA)}",
        wsql.watermarks_ddl(),
        raw_table_ddl(RAW_SCHEMA, table, columns, wsql.REDSHIFT),
        f"DROP TABLE IF EXISTS {wsql.qualified(AUDIT_SCHEMA, table.name)}",
        raw_table_ddl(AUDIT_SCHEMA, table, columns, wsql.REDSHIFT, if_not_exists=False),
    ):
        conn.execute(stmt)
    row = conn.execute(
        f"SELECT watermark_value, watermark_pk FROM {wsql.qualified(RAW_SCHEMA, WATERMARKS_TABLE)} "  # noqa: S608
        "WHERE table_name = %s",
        (table.name,),
    ).fetchone()
    if row:
        report.previous = Watermark(row[0], int(row[1]))
    since = None if (full_refresh or not report.previous) else report.previous.value - lookback
    prefix = staging_prefix(table.name, batch_id)
    after = None
    keys = StagedKeys(table.primary_key)
    page_no = 0
    while True:
        query = wsql.extract_sql(
            table.name, columns, wm_col, table.primary_key, since=since, after=after, limit=PAGE_ROWS
        )
        page = _read_page(settings.mysql_url, query, schema)
        if page.num_rows == 0:
            break
        buf = io.BytesIO()
        pq.write_table(_with_loaded_at(page, loaded_at), buf, compression="zstd")
        store.put_bytes(f"{prefix}/part-{page_no:05d}.parquet", buf.getvalue())
        report.rows_staged += page.num_rows
        keys.add(page)
        last = page.slice(page.num_rows - 1, 1).to_pylist()[0]
        after = (last[wm_col], int(last[table.primary_key]))
        page_no += 1
        if page.num_rows < PAGE_ROWS:
            break
    if report.rows_staged == 0:
        report.watermark = report.previous
        return report
    conn.execute(copy_sql(table.name, columns, store.url(prefix), iam_role))
    if repeated := keys.repeated():
        conn.execute(superseded_sql(table.name, table.primary_key, wm_col, repeated))
    gates.check_batch(settings.warehouse_url, AUDIT_SCHEMA, table.name)
    if after is None:
        raise TierflowError(f"{table.name}: rows were staged but no watermark was read")
    new_wm = Watermark(after[0], after[1])
    if report.previous and (report.previous.value, report.previous.pk) > (new_wm.value, new_wm.pk):
        new_wm = report.previous
    statements = publish_statements(table, columns)
    values = {
        ":table_name": f"'{table.name}'",
        ":wm_column": f"'{wm_col}'",
        ":wm_value": f"'{new_wm.value.isoformat(sep=' ')}'",
        ":wm_pk": str(int(new_wm.pk)),
        ":batch_id": f"'{batch_id}'",
        ":rows": str(int(report.rows_staged)),
        ":loaded_at": f"'{loaded_at.isoformat(sep=' ')}'",
    }
    # typed literals formatted here (the values are ours, not users')
    conn.raw.autocommit = False
    try:
        for stmt in statements:
            for k, v in values.items():
                stmt = stmt.replace(k, v)
            conn.execute(stmt)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    report.watermark = new_wm
    return report
