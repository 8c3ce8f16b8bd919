"""Seed benchmark: `tierflow seed --scale medium` into its own database; prints rows/s per table.

Target (foundation issue): >= 3M loan_transactions loaded at >= 100k rows/s overall.
Usage: python bench/bench_seed.py [--scale medium] [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tierflow.devdata import seed_database
from tierflow.stores import mysql

from bench.machine import mysqld_cpu

TARGET_ROWS_PER_S = 100_000
TARGET_TXNS = 3_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()
    server = os.environ.get("TIERFLOW_BENCH_MYSQL_SERVER", "mysql://root@127.0.0.1:3306")
    url = f"{server}/bench_seed"
    server_cpu = mysqld_cpu()
    cpu = time.process_time()
    report = seed_database(
        url,
        scale=args.scale,
        years=args.years,
        seed=42,
        as_of=date(2026, 6, 30),
        recreate=True,
        progress=True,
    )
    cpu = time.process_time() - cpu
    server_cpu = None if server_cpu is None else mysqld_cpu() - server_cpu
    print(report.render())
    txns = next(t.rows for t in report.loads if t.table == "loan_transactions")
    rate = report.rows_per_second
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        f"loan_transactions: {txns:,} (target >= {TARGET_TXNS:,}: {'OK' if txns >= TARGET_TXNS else 'MISSED'})"
    )
    print(
        f"overall: {rate:,.0f} rows/s = {rate / TARGET_ROWS_PER_S:.2f}x the {TARGET_ROWS_PER_S:,} rows/s target "
        f"({'OK' if rate >= TARGET_ROWS_PER_S else 'MISSED'})"
    )
    print(f"peak RSS of the generator: {rss_mb:,.0f} MB")
    if server_cpu is not None:
        print(
            f"CPU: generator {cpu:.0f} s, MySQL server {server_cpu:.0f} s, in {report.seconds:.0f} s of wall "
            f"time on {os.cpu_count()} cores"
        )
    if not args.keep:
        with mysql.connection(url, database=False, autocommit=True) as conn:
            conn.cursor().execute("DROP DATABASE IF EXISTS bench_seed")


if __name__ == "__main__":
    main()
