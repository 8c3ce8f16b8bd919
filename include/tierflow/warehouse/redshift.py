"""The production load path: staged Parquet on S3 -> ``COPY ... FORMAT AS PARQUET`` into
``raw_audit`` -> gate -> MERGE into ``raw`` + watermark, all through the Redshift Data API
(boto3 ``redshift-data``, the same API the Amazon provider's RedshiftDataHook uses).

Target in the warehouse URL: ``redshift://user@workgroup-or-cluster-host:5439/db?workgroup=wg``
(Serverless) or ``?cluster=id`` (provisioned); ``?iam_role=arn:...`` is the role COPY reads S3 with.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.policy import TablePolicy
from tierflow.urls import parse
from tierflow.warehouse import AUDIT_SCHEMA, LOADED_AT, RAW_SCHEMA, WATERMARKS_TABLE
from tierflow.warehouse import sql as wsql
from tierflow.warehouse.columns import Column, quote

POLL_SECONDS = 1.0
STATEMENT_TIMEOUT = 3600.0


@dataclass(frozen=True)
class DataApiTarget:
    database: str
    workgroup: str | None = None
    cluster: str | None = None
    db_user: str | None = None
    iam_role: str | None = None

    @classmethod
    def from_url(cls, url: str) -> DataApiTarget:
        u = parse(url)
        q = u.query
        if not (q.get("workgroup") or q.get("cluster")):
            raise TierflowError(
                "the Redshift warehouse URL needs ?workgroup=<name> (Serverless) or ?cluster=<id> "
                "for the Data API"
            )
        return cls(
            database=u.database or "dev",
            workgroup=q.get("workgroup"),
            cluster=q.get("cluster"),
            db_user=u.user if q.get("cluster") else None,
            iam_role=q.get("iam_role"),
        )

    def params(self) -> dict[str, str]:
        p = {"Database": self.database}
        if self.workgroup:
            p["WorkgroupName"] = self.workgroup
        if self.cluster:
            p["ClusterIdentifier"] = self.cluster
            if self.db_user:
                p["DbUser"] = self.db_user
        return p


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
    """The statements of the publish step, run by BatchExecuteStatement as ONE transaction."""
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


class DataApi:
    """A thin wrapper over boto3 ``redshift-data``: submit, wait, raise with the statement's error."""

    def __init__(
        self, target: DataApiTarget, *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        import boto3

        self.target = target
        self.client = boto3.client("redshift-data", endpoint_url=endpoint_url, region_name=region)

    def _wait(self, statement_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            desc = self.client.describe_statement(Id=statement_id)
            status = desc["Status"]
            if status == "FINISHED":
                return desc
            if status in {"FAILED", "ABORTED"}:
                raise TierflowError(
                    f"Redshift statement {statement_id} {status.lower()}: {desc.get('Error', '')}"
                )
            if time.monotonic() > deadline:
                raise TierflowError(
                    f"Redshift statement {statement_id} still {status} after {timeout:g}s; "
                    "check the workgroup/cluster (cancel it with `aws redshift-data cancel-statement`)"
                )
            time.sleep(POLL_SECONDS)

    def submit(self, sql: str, parameters: dict[str, object] | None = None) -> str:
        kwargs = dict(self.target.params(), Sql=sql)
        if parameters:
            kwargs["Parameters"] = [{"name": k, "value": str(v)} for k, v in parameters.items()]
        return self.client.execute_statement(**kwargs)["Id"]

    def execute(
        self, sql: str, parameters: dict[str, object] | None = None, *, timeout: float = STATEMENT_TIMEOUT
    ) -> dict:
        return self._wait(self.submit(sql, parameters), timeout)

    def execute_batch(self, statements: list[str]) -> dict:
        """One transaction: Redshift rolls every statement back if one fails."""
        return self._wait(self.client.batch_execute_statement(**self.target.params(), Sqls=statements)["Id"])


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
    import pyarrow.parquet as pq

    from tierflow.stores.objects import store_for
    from tierflow.warehouse import gates
    from tierflow.warehouse.columns import arrow_schema, source_columns
    from tierflow.warehouse.load import (
        PAGE_ROWS,
        LoadReport,
        Watermark,
        _now,
        _read_page,
        new_batch_id,
        watermark_column,
    )
    from tierflow.warehouse.raw_ddl import raw_table_ddl

    store = store_for(settings)
    if not store.uri.startswith("s3://"):
        raise TierflowError("a Redshift warehouse loads from S3: set TIERFLOW_ARCHIVE_URI to s3://...")
    target = DataApiTarget.from_url(settings.warehouse_url)
    api = DataApi(target, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
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
        api.execute(stmt)
    wm = api.execute(
        f"SELECT watermark_value, watermark_pk FROM {wsql.qualified(RAW_SCHEMA, WATERMARKS_TABLE)} "  # noqa: S608
        "WHERE table_name = :t",
        {"t": table.name},
    )
    if wm.get("HasResultSet"):
        records = api.client.get_statement_result(Id=wm["Id"]).get("Records", [])
        if records:
            value = datetime.fromisoformat(records[0][0]["stringValue"])
            report.previous = Watermark(value, int(records[0][1]["longValue"]))
    since = None if (full_refresh or not report.previous) else report.previous.value - lookback
    prefix = f"staging/{table.name}/batch={batch_id}"
    after = None
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
        last = page.slice(page.num_rows - 1, 1).to_pylist()[0]
        after = (last[wm_col], int(last[table.primary_key]))
        page_no += 1
        if page.num_rows < PAGE_ROWS:
            break
    if report.rows_staged == 0:
        report.watermark = report.previous
        return report
    api.execute(copy_sql(table.name, columns, store.url(prefix), target.iam_role))
    gates.check_batch(settings.warehouse_url, AUDIT_SCHEMA, table.name)
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
    # BatchExecuteStatement takes no parameters: substitute our own typed literals.
    rendered = []
    for stmt in statements:
        for k, v in values.items():
            stmt = stmt.replace(k, v)
        rendered.append(stmt)
    api.execute_batch(rendered)
    report.watermark = new_wm
    return report
