"""tierflow archive vs pt-archiver on a loan_transactions-like table (default 3M rows, 2M cold).

Builds the table in MariaDB with the SEQUENCE engine (INSERT ... SELECT, no client round trips),
copies it, archives one copy with pt-archiver (--limit 1000 --commit-each --bulk-delete, text file)
and the other with `tierflow archive run` to moto's S3 server (gate on, verify on), each as its own
process. Prints rows/s, the ratio, output bytes and tierflow's peak RSS (optionally at more sizes).

    python bench/bench_archive.py [--total 3000000 --cold 2000000] [--rss-sizes 1000000,10000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT))

from tierflow.stores import mysql  # noqa: E402

SERVER = os.environ.get("TIERFLOW_BENCH_MYSQL", "mysql://root@127.0.0.1:3306")
AS_OF = "2026-06-30"
CUTOFF = "2025-06-30 00:00:00"  # loan_transactions keeps 365 days warm


def build(db: str, total: int, cold: int) -> None:
    url = f"{SERVER}/{db}"
    with mysql.connection(url, database=False, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"USE {db}")
        ddl = (ROOT / "sql/mysql/001_lending_schema.sql").read_text()
        start = ddl.index("CREATE TABLE IF NOT EXISTS loan_transactions")
        stmt = ddl[start : ddl.index(";", start)]
        stmt = "\n".join(line for line in stmt.splitlines() if "FOREIGN KEY" not in line)
        cur.execute(stmt)
        # cold rows spread over 2024-01-01 .. 2025-06-29, warm rows after the cutoff
        cold_span, warm_span = 546 * 86400, 300 * 86400
        cur.execute(f"""
            INSERT INTO loan_transactions (id, loan_id, customer_id, txn_type, amount, currency,
              installment_no, gateway, gateway_ref, status, failure_reason, metadata, created_at, updated_at)
            SELECT seq, 1 + seq DIV 7, 1 + seq DIV 40,
              ELT(1 + seq % 5, 'disbursal','emi_payment','prepayment','penalty','refund'),
              ROUND(100 + (seq * 7919 % 500000) / 10, 2), 'INR',
              IF(seq % 3 = 0, NULL, 1 + seq % 24),
              ELT(1 + seq % 7, 'razorpay','cashfree','payu','paytm','nach','upi_autopay','neft'),
              CONCAT('pay_', LPAD(HEX(seq * 2654435761 % 4294967296), 8, '0'), LPAD(seq % 99991, 6, '0')),
              ELT(1 + (seq * 13) % 10, 'success','success','success','success','success','success',
                  'success','initiated','reversed','failed'),
              IF((seq * 13) % 10 = 9, 'insufficient_funds', NULL),
              IF(seq % 4 = 0, CONCAT('{{"device":"android","attempt":', seq % 3, '}}'), NULL),
              @t := IF(seq <= {cold},
                TIMESTAMPADD(MICROSECOND, (seq - 1) * {cold_span} DIV {cold} * 1000000 + seq % 1000000, '2024-01-01'),
                TIMESTAMPADD(MICROSECOND, (seq - {cold}) * {warm_span} DIV {max(total - cold, 1)} * 1000000, '2025-07-01')),
              @t
            FROM seq_1_to_{total}""")


def copy(src: str, dst: str) -> None:
    with mysql.connection(f"{SERVER}/{src}", autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS {dst}")
        cur.execute(f"CREATE DATABASE {dst}")
        cur.execute(f"CREATE TABLE {dst}.loan_transactions LIKE {src}.loan_transactions")
        cur.execute(f"INSERT INTO {dst}.loan_transactions SELECT * FROM {src}.loan_transactions")


def count(db: str) -> int:
    with mysql.connection(f"{SERVER}/{db}") as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM loan_transactions")
        return int(cur.fetchone()[0])


def run_pt_archiver(db: str, out: Path) -> tuple[float, int]:
    subprocess.run(["bash", str(ROOT / "scripts/install_percona_toolkit.sh")], check=True)
    started = time.monotonic()
    subprocess.run(
        ["pt-archiver", "--source", f"h=127.0.0.1,P=3306,u=root,D={db},t=loan_transactions",
         "--file", str(out), "--where", f"created_at < '{CUTOFF}'", "--limit", "1000",
         "--commit-each", "--bulk-delete", "--no-check-charset", "--no-safe-auto-increment"],
        check=True)
    return time.monotonic() - started, out.stat().st_size


class Moto:
    def __init__(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                      str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                import urllib.request

                urllib.request.urlopen(self.endpoint, timeout=1)
                return
            except Exception:
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_tierflow(db: str, moto: Moto, bucket: str) -> tuple[float, int, int, str]:
    import boto3

    env = {**os.environ, "AWS_ENDPOINT_URL": moto.endpoint, "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "ap-south-1",
           "TIERFLOW_MYSQL_URL": f"{SERVER}/{db}", "TIERFLOW_ARCHIVE_URI": f"s3://{bucket}/lake",
           "TIERFLOW_LOG_LEVEL": "WARNING"}
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="ap-south-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tierflow.cli", "archive", "run", "--table",
                           "loan_transactions", "--as-of", AS_OF, "--no-progress"], env=env,
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode:
        raise SystemExit(f"tierflow archive run failed:\n{proc.stdout}\n{proc.stderr}")
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if rss_kb <= before:  # an earlier, bigger child set the maximum; measure it again per child
        rss_kb = before
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="lake/"):
        total += sum(o["Size"] for o in page.get("Contents", []) if o["Key"].endswith(".parquet"))
    return seconds, total, rss_kb, proc.stdout


def rss_of_run(cold: int, moto: Moto) -> int:
    """Peak RSS of a tierflow run over ``cold`` cold rows, in its own wrapper process."""
    code = (
        "import resource, subprocess, sys, os;"
        f"sys.path.insert(0, {str(ROOT / 'bench')!r});"
        "import bench_archive as b;"
        f"b.build('tf_bench_rss', {cold + 1000}, {cold});"
        f"m = b.Moto.__new__(b.Moto); m.endpoint = {moto.endpoint!r};"
        f"s, _, rss, _ = b.run_tierflow('tf_bench_rss', m, 'rss-{cold}');"
        "print(rss, s)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=3_000_000)
    parser.add_argument("--cold", type=int, default=2_000_000)
    parser.add_argument("--rss-sizes", default="", help="e.g. 1000000,10000000 (extra runs)")
    args = parser.parse_args()

    t = time.monotonic()
    build("tf_bench_src", args.total, args.cold)
    copy("tf_bench_src", "tf_bench_pt")
    copy("tf_bench_src", "tf_bench_tf")
    print(f"built {args.total:,} rows ({args.cold:,} cold) x2 in {time.monotonic() - t:.1f}s")

    workdir = Path(tempfile.mkdtemp(prefix="tf-bench-"))
    pt_seconds, pt_bytes = run_pt_archiver("tf_bench_pt", workdir / "pt_archiver.txt")
    pt_left = count("tf_bench_pt")
    moto = Moto()
    try:
        tf_seconds, tf_bytes, tf_rss_kb, tf_out = run_tierflow("tf_bench_tf", moto, "tf-bench")
        tf_left = count("tf_bench_tf")
        print(tf_out)
        moved_pt, moved_tf = args.total - pt_left, args.total - tf_left
        pt_rate, tf_rate = moved_pt / pt_seconds, moved_tf / tf_seconds
        print(f"pt-archiver : {moved_pt:,} rows in {pt_seconds:.1f}s = {pt_rate:,.0f} rows/s, "
              f"{pt_bytes:,} bytes of text")
        print(f"tierflow    : {moved_tf:,} rows in {tf_seconds:.1f}s = {tf_rate:,.0f} rows/s, "
              f"{tf_bytes:,} bytes of Parquet (zstd), gate on, verify on, S3 via moto")
        print(f"speed ratio : {tf_rate / pt_rate:.2f}x pt-archiver (target >= 3x)")
        print(f"bytes ratio : {tf_bytes / pt_bytes:.1%} of pt-archiver's text (target <= 25%)")
        print(f"tierflow peak RSS: {tf_rss_kb / 1024:.0f} MB at {moved_tf:,} cold rows (target <= 512 MB)")
        for size in [int(s) for s in args.rss_sizes.split(",") if s]:
            rss = rss_of_run(size, moto)
            print(f"tierflow peak RSS: {rss / 1024:.0f} MB at {size:,} cold rows")
    finally:
        moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
