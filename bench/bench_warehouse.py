"""Full vs incremental warehouse refresh on the medium dataset (`make bench-warehouse`).

Seeds `medium` into its own MySQL database (bench_wh) once, loads an empty warehouse database with
`tierflow warehouse refresh --full-refresh`, adds one new day of rows (new loans, payments, app
scans, campaigns and events, plus EMI updates), then times `tierflow warehouse refresh`. Each refresh
runs as the real CLI in its own process, so start-up costs (GX, dbt) are counted.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

import MySQLdb
from tierflow.errors import ServiceUnavailable
from tierflow.stores import mysql, warehouse

MYSQL_URL = os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/bench_wh")
WAREHOUSE_URL = os.environ.get("BENCH_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/bench_wh")
ARCHIVE_URI = (ROOT / ".data" / "bench_wh_archive").as_uri()
AS_OF = date(2026, 6, 30)
SCALE = os.environ.get("BENCH_SCALE", "medium")


def seeded() -> bool:
    try:
        with mysql.connection(MYSQL_URL) as conn:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM loan_transactions")
            return cur.fetchone()[0] > 0
    except (ServiceUnavailable, MySQLdb.Error):  # no database or no table yet
        return False


def add_one_day() -> date:
    """Copy the newest day's activity one day forward (new ids), and settle some EMIs that day."""
    with mysql.connection(MYSQL_URL) as conn:
        cur = conn.cursor()
        cur.execute("SELECT DATE(MAX(created_at)) FROM loan_transactions")
        last = cur.fetchone()[0]
        day = last + timedelta(days=1)
        lo, hi = f"'{last} 00:00:00'", f"'{day} 00:00:00'"
        shift = "INTERVAL 1 DAY"
        cur.execute(
            "INSERT INTO loans (customer_id, product, principal, interest_rate_pct, tenure_months, status, "
            "applied_at, approved_at, disbursed_at, closed_at, created_at, updated_at) "
            f"SELECT customer_id, product, principal, interest_rate_pct, tenure_months, status, "
            f"applied_at + {shift}, approved_at + {shift}, disbursed_at + {shift}, closed_at + {shift}, "
            f"created_at + {shift}, updated_at + {shift} FROM loans WHERE created_at >= {lo} AND created_at < {hi}"
        )
        cur.execute(
            "INSERT INTO loan_transactions (loan_id, customer_id, txn_type, amount, currency, installment_no, "
            "gateway, gateway_ref, status, failure_reason, metadata, created_at, updated_at) "
            "SELECT loan_id, customer_id, txn_type, amount, currency, installment_no, gateway, "
            f"CONCAT('b', gateway_ref), status, failure_reason, metadata, created_at + {shift}, "
            f"updated_at + {shift} FROM loan_transactions WHERE created_at >= {lo} AND created_at < {hi}"
        )
        cur.execute(
            "INSERT INTO user_device_apps (customer_id, package_name, app_name, category, installed_at, created_at) "
            f"SELECT customer_id, package_name, app_name, category, installed_at, created_at + {shift} "
            f"FROM user_device_apps WHERE created_at >= {lo} AND created_at < {hi}"
        )
        cur.execute(
            "INSERT INTO communications (customer_id, campaign_code, channel, template_code, status, created_at, updated_at) "
            f"SELECT customer_id, campaign_code, channel, template_code, status, created_at + {shift}, "
            f"updated_at + {shift} FROM communications WHERE created_at >= {lo} AND created_at < {hi}"
        )
        cur.execute(
            "INSERT INTO communication_events (communication_id, event_type, created_at) "
            f"SELECT id, 'sent', created_at FROM communications WHERE created_at >= '{day} 00:00:00'"
        )
        cur.execute(
            f"UPDATE emi_schedules SET status = 'paid', paid_amount = due_amount, paid_at = '{day} 10:00:00', "
            f"updated_at = '{day} 10:00:00' WHERE due_date = '{day}' AND status = 'scheduled'"
        )
        conn.commit()
    return day


def refresh(full: bool) -> tuple[float, str]:
    env = dict(
        os.environ,
        TIERFLOW_MYSQL_URL=MYSQL_URL,
        TIERFLOW_WAREHOUSE_URL=WAREHOUSE_URL,
        TIERFLOW_ARCHIVE_URI=ARCHIVE_URI,
        TIERFLOW_LOG_LEVEL="WARNING",
        COLUMNS="200",
    )
    cmd = [str(ROOT / ".venv" / "bin" / "tierflow"), "warehouse", "refresh"] + (
        ["--full-refresh"] if full else []
    )
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"refresh failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout


def copy_rate(output: str) -> tuple[int, float]:
    m = re.search(r"([\d,]+) rows staged in ([\d.]+)s; COPY ([\d,]+) rows/s", output)
    if not m:
        return 0, 0.0
    return int(m.group(1).replace(",", "")), float(m.group(3).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reseed", action="store_true", help="seed the medium dataset again")
    args = parser.parse_args()
    if args.reseed or not seeded():
        from tierflow.devdata import seed_database

        t0 = time.perf_counter()
        seed_database(MYSQL_URL, scale=SCALE, years=3, seed=42, as_of=AS_OF, recreate=True, progress=False)
        print(f"seeded {SCALE} into {mysql.database_of(MYSQL_URL)} in {time.perf_counter() - t0:.0f}s")
    with warehouse.connection(WAREHOUSE_URL, database="postgres", autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "bench_wh" WITH (FORCE)')
    warehouse.ensure_database(WAREHOUSE_URL)

    full_s, full_out = refresh(full=True)
    rows, rate = copy_rate(full_out)
    print(f"full refresh done in {full_s:.1f} s; adding one day", flush=True)
    day = add_one_day()
    inc_s, inc_out = refresh(full=False)
    inc_rows, _ = copy_rate(inc_out)
    ratio = inc_s / full_s
    print(f"full refresh (load {rows:,} rows + dbt build + publish): {full_s:8.1f} s")
    print(
        f"incremental refresh after one new day ({day}, {inc_rows:,} rows re-read incl. lookback): {inc_s:8.1f} s"
    )
    print(f"ratio incremental / full: {ratio:.1%}  (target <= 10%)")
    print(f"bulk load into the warehouse (COPY from Arrow): {rate:,.0f} rows/s  (target >= 100,000)")


if __name__ == "__main__":
    main()
