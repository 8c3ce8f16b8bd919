"""The query advisor on a synthetic analyst workload (`make bench-advisor`).

A warehouse database (bench_advisor) holds raw.loan_transactions at the size of the `medium`
dataset (3M transactions over 3 years, synthetic: workload.create_table). The analyst workload runs
on it: the planted shapes (three promotable, three that must be refused) with varying literals, and
cheap one-off queries of many shapes. The advisor then reads pg_stat_statements and reports.

Printed: precision and recall of the promoted candidates against the planted promotable shapes;
for each promoted shape the speedup of its rewrite (best of 3 runs each, over the model built as a
table) and its equivalence over 5 literal sets; the advisor's run time over 10,000 history entries.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

from tierflow.advisor import history, workload
from tierflow.advisor.advise import advise
from tierflow.advisor.fingerprint import fingerprint
from tierflow.advisor.history import QueryRun
from tierflow.stores import warehouse

WAREHOUSE_URL = os.environ.get("BENCH_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/bench_advisor")
ROWS = 3_000_000
DAYS = 3 * 365
COLUMNS = [
    "id",
    "loan_id",
    "customer_id",
    "txn_type",
    "amount",
    "currency",
    "gateway",
    "status",
    "created_at",
]


def prepare(conn, rows: int) -> None:
    have = conn.execute("SELECT to_regclass('raw.loan_transactions') IS NOT NULL").fetchone()[0]
    if have and conn.execute("SELECT count(*) FROM raw.loan_transactions").fetchone()[0] == rows:
        return
    conn.execute("DROP SCHEMA IF EXISTS raw CASCADE")
    start = time.perf_counter()
    workload.create_table(conn, rows, days=DAYS, start="2023-07-01")
    print(f"raw.loan_transactions: {rows:,} rows in {time.perf_counter() - start:.1f}s")


def one_off_shapes(rng: random.Random, count: int, max_id: int) -> list[str]:
    """Cheap lookups of many shapes (each column subset is its own shape), each run once."""
    out = []
    for _ in range(count):
        cols = ", ".join(rng.sample(COLUMNS, rng.randint(1, 4)))
        out.append(f"SELECT {cols} FROM raw.loan_transactions WHERE id = {rng.randint(1, max_id)}")
    return out


def history_entries(conn, count: int, rng: random.Random) -> list[QueryRun]:
    """``count`` history entries as a journal would hold them (literals kept): the planted shapes
    with random literals, and one-off lookups; costs drawn around what the workload measured."""
    domains = workload.values(conn)
    runs = []
    for i in range(count):
        if i % 4 == 0:
            planted = workload.PLANTED[i // 4 % len(workload.PLANTED)]
            runs.append(
                QueryRun("postgres", workload.fill(planted.template, domains, rng), 1, rng.uniform(200, 900))
            )
        else:
            runs.append(
                QueryRun("postgres", one_off_shapes(rng, 1, domains["max_id"])[0], 1, rng.uniform(0.1, 2))
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--repeats", type=int, default=8, help="calls of each planted shape")
    parser.add_argument("--history", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(7)
    warehouse.ensure_database(WAREHOUSE_URL)
    with warehouse.connection(WAREHOUSE_URL, autocommit=True) as conn:
        prepare(conn, args.rows)
        if not history.ensure_pg_stat_statements(conn):
            sys.exit("PostgreSQL does not preload pg_stat_statements: run scripts/services.sh")
        conn.execute(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
        )
        start = time.perf_counter()
        workload.run(conn, repeats=args.repeats, one_offs=200, seed=11)
        for sql in one_off_shapes(rng, 100, args.rows):
            conn.execute(sql).fetchall()
        print(
            f"workload: {args.repeats} x {len(workload.PLANTED)} planted shapes + 300 one-offs "
            f"in {time.perf_counter() - start:.1f}s"
        )
        runs = history.postgres_history(conn)

        start = time.perf_counter()
        report = advise(conn, runs, min_calls=3, repeat=3, window_days=7)
        print(
            f"advisor over pg_stat_statements ({len(runs)} statements): {time.perf_counter() - start:.1f}s\n"
        )

        planted = {}
        for p in workload.PLANTED:
            filled = p.template.format(
                status="x",
                txn_type="x",
                gateway="x",
                gateway2="y",
                start="2026-01-01",
                end="2026-01-08",
                id=1,
            )
            planted[fingerprint(filled).fingerprint] = p
        positives = {fp for fp, p in planted.items() if p.promotable}
        promoted = {c.fingerprint for c in report if c.promotable}
        hits = promoted & positives
        precision = len(hits) / len(promoted) if promoted else 0.0
        recall = len(hits) / len(positives)
        print(
            f"precision {precision:.2f} ({len(hits)}/{len(promoted)} promoted were planted), "
            f"recall {recall:.2f} ({len(hits)}/{len(positives)} planted were promoted)"
        )
        for c in report:
            name = planted[c.fingerprint].name if c.fingerprint in planted else "(other)"
            if c.promotable:
                speedup = c.original_ms / c.rewrite_ms if c.rewrite_ms else float("inf")
                print(
                    f"  {name:22} {c.fingerprint} promoted: {c.literal_sets} literal sets equal, "
                    f"{c.original_ms:8.1f} ms -> {c.rewrite_ms:6.2f} ms, speedup {speedup:6.1f}x, "
                    f"model build {c.refresh_ms:.0f} ms"
                )
            elif c.fingerprint in planted:
                print(f"  {name:22} {c.fingerprint} refused: {c.reason}")

        entries = history_entries(conn, args.history, rng)
        start = time.perf_counter()
        big = advise(conn, entries, min_calls=3, window_days=7)
        seconds = time.perf_counter() - start
        print(
            f"\nadvisor over {len(entries):,} history entries: {seconds:.1f}s "
            f"({len(big)} shapes with >= 3 calls, {sum(c.promotable for c in big)} promoted) "
            f"[target <= 60 s]"
        )


if __name__ == "__main__":
    main()
