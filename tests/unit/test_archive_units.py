"""The archive library alone: type mapping, durations, ordering, layout, lifecycle, DDL, the gate."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from tierflow.archive import layout
from tierflow.archive.run import parse_duration
from tierflow.archive.schema import (
    SchemaDriftError,
    SourceColumn,
    archived_schema,
    arrow_type,
    check_drift,
    content_checksum,
    shape,
)
from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.stores.mysql_graph import fk_waves, ordered_tables


@pytest.fixture(scope="module")
def policy():
    return load_policy(DEFAULT_POLICY)


def col(name, data_type, column_type=None, p=None, s=None):
    return SourceColumn(name, data_type, column_type or data_type, p, s)


def test_exact_arrow_types() -> None:
    import pyarrow as pa

    # every integer signed, as the catalog declares it: unsigned widen one step, BIGINT stays 64
    assert arrow_type(col("id", "bigint", "bigint(20) unsigned")) == pa.int64()
    assert arrow_type(col("n", "smallint", "smallint(5) unsigned")) == pa.int32()
    assert arrow_type(col("n", "tinyint", "tinyint(3) unsigned")) == pa.int16()
    assert arrow_type(col("n", "int", "int(10) unsigned")) == pa.int64()
    assert arrow_type(col("n", "int")) == pa.int32()
    assert arrow_type(col("amount", "decimal", "decimal(14,2)", 14, 2)) == pa.decimal128(14, 2)
    assert arrow_type(col("t", "datetime", "datetime(6)")) == pa.timestamp("us")
    assert arrow_type(col("d", "date")) == pa.date32()
    assert arrow_type(col("j", "json")) == pa.string()
    assert arrow_type(col("e", "enum", "enum('a','b')")) == pa.string()
    with pytest.raises(TierflowError, match="geometry"):
        arrow_type(col("g", "geometry"))


def test_shape_casts_safely_and_hashes_pii(policy) -> None:
    import pyarrow as pa

    table = policy.table("customers")
    cols = [
        col("id", "bigint", "bigint unsigned"),
        col("full_name", "varchar"),
        col("pan", "char"),
        col("created_at", "datetime"),
        col("updated_at", "datetime"),
    ]
    schema = archived_schema(cols, table)
    assert schema.names == ["id", "pan", "created_at", "updated_at"]  # full_name dropped
    raw = pa.table(
        {
            "id": pa.array([1], pa.uint64()),
            "full_name": ["X"],
            "pan": ["ABCDE1234F"],
            "created_at": [datetime(2020, 1, 1)],
            "updated_at": [datetime(2020, 1, 1)],
        }
    )
    out = shape(raw, cols, table, schema)
    assert len(out.column("pan")[0].as_py()) == 64
    # a decimal that does not fit decimal(5,2) fails instead of rounding
    lt = policy.table("loan_transactions")
    dcols = [col("id", "bigint", "bigint unsigned"), col("amount", "decimal", "decimal(5,2)", 5, 2)]
    dschema = archived_schema(dcols, lt)
    bad = pa.table(
        {"id": pa.array([1], pa.uint64()), "amount": pa.array([Decimal("1.2345")], pa.decimal128(38, 10))}
    )
    with pytest.raises(pa.ArrowInvalid):
        shape(bad, dcols, lt, dschema)


def test_unsigned_bigint_above_int64_is_refused(policy) -> None:
    import pyarrow as pa
    from tierflow.archive.schema import UnsignedRangeError

    lt = policy.table("loan_transactions")
    cols = [col("id", "bigint", "bigint unsigned"), col("amount", "decimal", "decimal(5,2)", 5, 2)]
    schema = archived_schema(cols, lt)
    fits = pa.table({"id": pa.array([2**63 - 1], pa.uint64()), "amount": [Decimal("1.00")]})
    assert shape(fits, cols, lt, schema).column("id").type == pa.int64()
    big = pa.table({"id": pa.array([1, 2**63], pa.uint64()), "amount": [Decimal("1.00")] * 2})
    with pytest.raises(
        UnsignedRangeError, match=r"'loan_transactions' column 'id': value 9223372036854775808"
    ):
        shape(big, cols, lt, schema)


def test_old_unsigned_objects_read_in_todays_types_with_the_same_checksum() -> None:
    import pyarrow as pa
    from tierflow.archive.schema import current_encoding

    hashes = [1, 2**63, 2**64 - 1]
    old = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.uint64()),
            "n": pa.array([1, 2, 65535], pa.uint16()),
            "_tf_row_hash": pa.array(hashes, pa.uint64()),
        }
    )
    now = current_encoding(old)
    assert [f.type for f in now.schema] == [pa.int64(), pa.int32(), pa.int64()]
    assert now.column("id").to_pylist() == [1, 2, 3]
    # the row hash is the same 64 bits, read as MySQL's CAST(... AS SIGNED) gives them
    assert now.column("_tf_row_hash").to_pylist() == [1, -(2**63), -1]
    # ledger checksums of objects written before stay valid
    assert content_checksum(now) == content_checksum(old)


def test_checksum_is_order_and_split_independent() -> None:
    import pyarrow as pa

    t = pa.table({"id": pa.array([1, 2, 3], pa.uint64()), "v": ["a", None, "c"]})
    n, whole = content_checksum(t)
    assert n == 3
    assert content_checksum(pa.concat_tables([t.slice(2), t.slice(0, 2)]))[1] == whole
    changed = pa.table({"id": pa.array([1, 2, 3], pa.uint64()), "v": ["a", None, "d"]})
    assert content_checksum(changed)[1] != whole


def test_drift_needs_a_column_map(policy) -> None:
    import pyarrow as pa

    table = policy.table("loan_transactions")
    schema = pa.schema([("id", pa.uint64()), ("gateway_reference", pa.string())])
    with pytest.raises(SchemaDriftError, match="gateway_ref.*column_map"):
        check_drift(table, schema, [["id", "uint64"], ["gateway_ref", "string"]])
    mapped = table.model_copy(
        update={
            "archive": table.archive.model_copy(update={"column_map": {"gateway_ref": "gateway_reference"}})
        }
    )
    check_drift(mapped, schema, [["id", "uint64"], ["gateway_ref", "string"]])


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("15") == 15
    assert parse_duration(None) is None
    with pytest.raises(TierflowError):
        parse_duration("soon")


def test_children_before_parents(policy) -> None:
    fks = [
        ("loans", "customer_id", "customers", "id"),
        ("emi_schedules", "loan_id", "loans", "id"),
        ("loan_transactions", "loan_id", "loans", "id"),
    ]
    names = [t.name for t in ordered_tables(policy, ["customers", "loans", "emi_schedules"], fks)]
    assert names.index("emi_schedules") < names.index("loans") < names.index("customers")


def test_waves_by_foreign_key_depth(policy) -> None:
    fks = [
        ("loans", "customer_id", "customers", "id"),
        ("communications", "customer_id", "customers", "id"),
        ("emi_schedules", "loan_id", "loans", "id"),
        ("loan_transactions", "loan_id", "loans", "id"),
        ("communication_events", "communication_id", "communications", "id"),
    ]
    tables = [
        "customers",
        "loans",
        "communications",
        "emi_schedules",
        "loan_transactions",
        "communication_events",
    ]
    waves = fk_waves(policy, tables, fks, 3)
    assert [set(w) for w in waves] == [
        {"emi_schedules", "loan_transactions", "communication_events"},
        {"loans", "communications"},
        {"customers"},
    ]
    # fewer waves than the depth: the deepest tables join the last wave, in foreign-key order
    two = fk_waves(policy, tables, fks, 2)
    assert set(two[0]) == set(waves[0])
    assert two[1].index("loans") < two[1].index("customers")
    # a table without archived children is in the first wave
    assert fk_waves(policy, ["loans", "customers"], fks, 3) == [["loans"], ["customers"], []]


def test_object_names_are_unique_per_entry_and_content() -> None:
    name = layout.batch_name(1, 250)
    assert name == "00000000000000000001-00000000000000000250"
    key = layout.object_key("lending", "loans", "2024-05", 42, b"rows")
    assert key == f"lending/loans/dt=2024-05/part-000000000042-{layout.digest(b'rows')}.parquet"
    assert layout.partition_of(key) == "2024-05"
    assert layout.partition_value("dt=2024-01") == layout.partition_value("2024-01") == "2024-01"
    # another entry, or other bytes for the same entry (a rewrite), never gets the same name
    assert layout.object_key("lending", "loans", "2024-05", 43, b"rows") != key
    assert layout.object_key("lending", "loans", "2024-05", 42, b"fewer rows") != key
    assert layout.manifest_key("lending", "loans", 42, b"{}").startswith(
        "lending/loans/_manifests/000000000042-"
    )


def test_lifecycle_rules_follow_retention(policy) -> None:
    from tierflow.archive.lifecycle import lifecycle_rules

    s = Settings(mysql_url="mysql://root@127.0.0.1/lending", archive_uri="s3://bucket/lake")
    rules = {r["ID"]: r for r in lifecycle_rules(s, policy)}
    api = rules["tierflow-lending-api_request_logs"]
    assert api["Filter"]["Prefix"] == "lake/lending/api_request_logs/"
    assert api["Expiration"]["Days"] == 730
    assert api["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER_IR"}]


def test_athena_ddl(policy) -> None:
    import pyarrow as pa
    from tierflow.catalog import athena_ddl

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("amount", pa.decimal128(14, 2)),
            ("created_at", pa.timestamp("us")),
            ("_tf_row_hash", pa.int64()),
        ]
    )
    ddl = athena_ddl(
        policy.table("loan_transactions"),
        schema,
        location="s3://b/lake/lending/loan_transactions",
        glue_database="arch",
    )
    assert "`amount` decimal(14,2)" in ddl and "PARTITIONED BY (`dt` string)" in ddl
    assert "`id` bigint" in ddl
    assert "`created_at` timestamp,\n  `_tf_row_hash` bigint\n)" in ddl  # every archived column
    assert "STORED AS PARQUET" in ddl and "projection.dt.format' = 'yyyy-MM'" in ddl  # monthly
    assert "projection.dt.interval.unit' = 'MONTHS'" in ddl
    daily = athena_ddl(
        policy.table("api_request_logs"),
        schema,
        location="s3://b/lake/lending/api_request_logs",
        glue_database="arch",
    )
    assert (
        "projection.dt.format' = 'yyyy-MM-dd'" in daily and "projection.dt.interval.unit' = 'DAYS'" in daily
    )


def test_quality_gate_names_expectation_column_and_samples() -> None:
    import pyarrow as pa
    from tierflow.quality import QualityGateError, load_suite, validate

    suite = load_suite("archive", "loan_transactions")
    rows = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.uint64()),
            "loan_id": pa.array([1, 1, 1], pa.uint64()),
            "customer_id": pa.array([1, 1, 1], pa.uint64()),
            "created_at": [datetime(2024, 1, 1)] * 3,
            "amount": pa.array([Decimal("10.00"), Decimal("0.00"), Decimal("5.00")], pa.decimal128(14, 2)),
            "currency": ["INR", "USD", "INR"],
            "txn_type": ["refund"] * 3,
            "status": ["success"] * 3,
        }
    )
    with pytest.raises(QualityGateError) as err:
        validate("loan_transactions", rows, suite, key_column="id")
    text = str(err.value)
    assert "expect_column_values_to_be_in_set on column 'currency'" in text and "USD" in text
    assert "expect_column_values_to_be_between on column 'amount'" in text
    assert "sample rows [2]" in text
    with pytest.raises(TierflowError, match="no expectation suite"):
        load_suite("archive", "no_such_table")


def test_query_reads_old_unsigned_and_new_signed_objects_in_the_catalogs_types(policy, tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tierflow.config import Settings
    from tierflow.query import run_query

    part = tmp_path / "archive" / "lending" / "api_request_logs" / "dt=2024-01-01"
    part.mkdir(parents=True)
    old = {"id": pa.array([1], pa.uint64()), "_tf_row_hash": pa.array([2**64 - 1], pa.uint64())}
    pq.write_table(pa.table(old), part / "part-old.parquet")
    new = {"id": pa.array([2], pa.int64()), "_tf_row_hash": pa.array([-5], pa.int64())}
    pq.write_table(pa.table(new), part / "part-new.parquet")
    settings = Settings(
        mysql_url="mysql://root@127.0.0.1:3306/lending", archive_uri=(tmp_path / "archive").as_uri()
    )
    got = run_query(
        "SELECT typeof(id) AS t, typeof(_tf_row_hash) AS h, id, _tf_row_hash FROM api_request_logs ORDER BY id",
        settings,
        policy=policy,
    ).to_pylist()
    # an unsigned row hash reads as the signed value MySQL computes today (same 64 bits)
    assert [(r["t"], r["h"], r["id"], r["_tf_row_hash"]) for r in got] == [
        ("BIGINT", "BIGINT", 1, -1),
        ("BIGINT", "BIGINT", 2, -5),
    ]


@pytest.mark.parametrize(("database", "table"), [("_tierflow_staging", "loans"), ("lending", "_tierflow_x")])
def test_archive_names_cannot_enter_the_reserved_prefix(database: str, table: str) -> None:
    from tierflow.archive.layout import object_key, table_prefix
    from tierflow.stores.objects import ReservedNameError

    with pytest.raises(ReservedNameError, match="_tierflow_"):
        table_prefix(database, table)
    with pytest.raises(ReservedNameError):
        object_key(database, table, "2024-03", 1, b"x")
    assert table_prefix("staging", "loans") == "staging/loans"


def test_lifecycle_merge_keeps_other_rules_and_refuses_a_clashing_id(policy) -> None:
    from tierflow.archive.lifecycle import LifecycleConflictError, lifecycle_rules, merged_rules

    s = Settings(mysql_url="mysql://root@127.0.0.1/lending", archive_uri="s3://bucket/lake")
    ours = lifecycle_rules(s, policy)
    theirs = {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 3}}
    stale = {"ID": "tierflow-lending-gone", "Filter": {"Prefix": "lake/lending/gone/"}, "Status": "Enabled"}
    assert merged_rules([theirs, stale], ours, "lending") == [theirs, *ours]
    assert merged_rules([{**theirs, "ID": ours[0]["ID"]}], ours, "lending") == ours  # replaced
    with pytest.raises(LifecycleConflictError, match="nothing was changed"):
        merged_rules([theirs] * 1000, ours, "lending")


def test_archived_files_groups_parquet_objects_by_partition(tmp_path) -> None:
    from tierflow.stores.objects import LocalStore

    store = LocalStore(tmp_path)
    for key in (
        "lending/loans/dt=2024-05/part-1.parquet",
        "lending/loans/dt=2024-05/part-2.parquet",
        "lending/loans/dt=2024-06/part-3.parquet",
        "lending/loans/stray.parquet",
        "lending/loans/_manifests/1.json",
        "lending/loans_old/dt=2024-01/part-4.parquet",
    ):
        store.put_bytes(key, b"x" * 3)
    files, partitions = layout.archived_files(store, "lending", "loans")
    assert sorted(o.key for o in files) == [
        "lending/loans/dt=2024-05/part-1.parquet",
        "lending/loans/dt=2024-05/part-2.parquet",
        "lending/loans/dt=2024-06/part-3.parquet",
        "lending/loans/stray.parquet",
    ]
    assert {p: sorted(k) for p, k in partitions.items()} == {
        "2024-05": ["lending/loans/dt=2024-05/part-1.parquet", "lending/loans/dt=2024-05/part-2.parquet"],
        "2024-06": ["lending/loans/dt=2024-06/part-3.parquet"],
    }
