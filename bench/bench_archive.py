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

from tierflow.paths import DEFAULT_POLICY
from tierflow.stores import mysql

from bench.machine import mysqld_cpu

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


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_purge(db: str, timeout: float = 300) -> None:
    """Let InnoDB purge the previous run's deleted rows, so each tool starts on a quiet server."""
    deadline = time.monotonic() + timeout
    with mysql.connection(f"{SERVER}/{db}") as conn:
        cur = conn.cursor()
        while time.monotonic() < deadline:
            cur.execute(
                "SELECT count FROM information_schema.innodb_metrics WHERE name = 'trx_rseg_history_len'"
            )
            row = cur.fetchone()
            if not row or int(row[0]) < 100:
                break
            time.sleep(2)
    time.sleep(3)


def count(db: str) -> int:
    with mysql.connection(f"{SERVER}/{db}") as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM loan_transactions")
        return int(cur.fetchone()[0])


def measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; its wall seconds, own CPU seconds, peak RSS (KB, of that process alone, from
    wait4), the MySQL server's CPU seconds meanwhile, and its output."""
    with tempfile.TemporaryFile("w+") as out:
        server_before = mysqld_cpu()
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        server_after = mysqld_cpu()
        out.seek(0)
        text = out.read()
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed (exit {proc.returncode}):\n{text[-4000:]}")
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_kb": usage.ru_maxrss,
        "server_cpu": None if server_before is None else server_after - server_before,
        "output": text,
    }


def run_pt_archiver(db: str, out: Path) -> dict:
    subprocess.run(["bash", str(ROOT / "scripts/install_percona_toolkit.sh")], check=True)
    run = measured(
        [
            "pt-archiver",
            "--source",
            f"h=127.0.0.1,P=3306,u=root,D={db},t=loan_transactions",
            "--file",
            str(out),
            "--where",
            f"created_at < '{CUTOFF}'",
            "--limit",
            "1000",
            "--commit-each",
            "--bulk-delete",
            "--no-check-charset",
            "--no-safe-auto-increment",
        ]
    )
    run["bytes"] = out.stat().st_size
    return run


class Moto:
    def __init__(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                import urllib.request

                urllib.request.urlopen(self.endpoint, timeout=1)
                return
            except OSError:  # not listening yet (URLError is an OSError)
                time.sleep(0.2)

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_delete_floor(db: str, cold: int, chunk: int = 5_000, workers: int = 2) -> dict:
    """The floor under any archiver that deletes row by row: MySQL alone deleting the cold rows in
    ``chunk``-row range transactions (tierflow's delete size) on ``workers`` connections, with no
    select, file, gate or verify. Wall seconds and the server's CPU seconds."""
    from concurrent.futures import ThreadPoolExecutor

    ranges = [(lo, min(lo + chunk - 1, cold)) for lo in range(1, cold + 1, chunk)]

    def delete(part: list[tuple[int, int]]) -> int:
        with mysql.connection(f"{SERVER}/{db}", autocommit=False) as conn:
            cur, n = conn.cursor(), 0
            for lo, hi in part:
                n += cur.execute(
                    f"DELETE FROM loan_transactions WHERE id BETWEEN %s AND %s AND created_at < '{CUTOFF}'",
                    (lo, hi),
                )
                conn.commit()
            return n

    server_before = mysqld_cpu()
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        deleted = sum(pool.map(delete, [ranges[i::workers] for i in range(workers)]))
    seconds = time.monotonic() - started
    server_after = mysqld_cpu()
    return {
        "rows": deleted,
        "seconds": seconds,
        "server_cpu": None if server_before is None else server_after - server_before,
    }


def bench_policy(workdir: Path) -> Path:
    """The project's tier policy with only loan_transactions: the bench database holds no other
    table, and tierflow refuses a policy that names tables the live schema lacks."""
    import yaml

    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["tables"] = {"loan_transactions": policy["tables"]["loan_transactions"]}
    # pt-archiver knows no warehouse: the bench compares the archive alone (a warehouse table's
    # rows would otherwise wait for a load of all 3M rows into PostgreSQL first)
    policy["tables"]["loan_transactions"]["warehouse"] = False
    path = workdir / "tiers.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def run_tierflow(db: str, moto: Moto, bucket: str, policy: Path) -> dict:
    import boto3

    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "ap-south-1",
        "TIERFLOW_MYSQL_URL": f"{SERVER}/{db}",
        "TIERFLOW_ARCHIVE_URI": f"s3://{bucket}/lake",
        "TIERFLOW_POLICY": str(policy),
        "TIERFLOW_LOG_LEVEL": "WARNING",
        "COLUMNS": "160",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name="ap-south-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    moto_before = moto.cpu()
    run = measured(
        [
            sys.executable,
            "-m",
            "tierflow.cli",
            "archive",
            "run",
            "--table",
            "loan_transactions",
            "--as-of",
            AS_OF,
            "--no-progress",
            "--allow-large-run",  # 2M of 3M rows: over the policy's max_run_fraction (0.5)
        ],
        env,
    )
    run["moto_cpu"] = moto.cpu() - moto_before
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="lake/"):
        total += sum(o["Size"] for o in page.get("Contents", []) if o["Key"].endswith(".parquet"))
    run["bytes"] = total
    return run


def rss_of_run(cold: int, moto: Moto, policy: Path) -> tuple[int, float]:
    """Peak RSS (KB) and seconds of a tierflow run over ``cold`` cold rows, in a fresh database."""
    build("tf_bench_rss", cold + 1000, cold)
    wait_for_purge("tf_bench_rss")
    run = run_tierflow("tf_bench_rss", moto, f"rss-{cold}", policy)
    with mysql.connection(f"{SERVER}/tf_bench_rss", autocommit=True) as conn:
        conn.cursor().execute("DROP DATABASE tf_bench_rss")
    return run["rss_kb"], run["seconds"]


def describe(name: str, moved: int, run: dict, what: str) -> str:
    rate = moved / run["seconds"]
    server = f", MySQL server CPU {run['server_cpu']:.1f} s" if run.get("server_cpu") is not None else ""
    return (
        f"{name:12}: {moved:,} rows in {run['seconds']:.1f}s = {rate:,.0f} rows/s, {run['bytes']:,} bytes "
        f"of {what}; own CPU {run['cpu']:.1f} s{server}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=3_000_000)
    parser.add_argument("--cold", type=int, default=2_000_000)
    parser.add_argument(
        "--rss-sizes", default="1000000,10000000", help="cold-row counts of the extra RSS runs (empty: none)"
    )
    args = parser.parse_args()

    t = time.monotonic()
    build("tf_bench_src", args.total, args.cold)
    copy("tf_bench_src", "tf_bench_pt")
    copy("tf_bench_src", "tf_bench_tf")
    print(f"built {args.total:,} rows ({args.cold:,} cold) x2 in {time.monotonic() - t:.1f}s")

    workdir = Path(tempfile.mkdtemp(prefix="tf-bench-"))
    moto = Moto()
    try:
        wait_for_purge("tf_bench_pt")
        pt = run_pt_archiver("tf_bench_pt", workdir / "pt_archiver.txt")
        moved_pt = args.total - count("tf_bench_pt")
        wait_for_purge("tf_bench_tf")
        tf = run_tierflow("tf_bench_tf", moto, "tf-bench", bench_policy(workdir))
        moved_tf = args.total - count("tf_bench_tf")
        print(tf["output"])
        pt_rate, tf_rate = moved_pt / pt["seconds"], moved_tf / tf["seconds"]
        print(describe("pt-archiver", moved_pt, pt, "text"))
        print(
            describe("tierflow", moved_tf, tf, "Parquet (zstd)")
            + f", moto CPU {tf['moto_cpu']:.1f} s; gate on, verify on, S3 via moto's server"
        )
        print(f"speed ratio : {tf_rate / pt_rate:.2f}x pt-archiver's rows/s (target >= 3x)")
        copy("tf_bench_src", "tf_bench_floor")
        wait_for_purge("tf_bench_floor")
        floor = run_delete_floor("tf_bench_floor", args.cold)
        floor_rate = floor["rows"] / floor["seconds"]
        server = f", MySQL server CPU {floor['server_cpu']:.1f} s" if floor["server_cpu"] is not None else ""
        print(
            f"delete floor: MySQL alone deletes the {floor['rows']:,} cold rows (5,000-row range "
            f"transactions, 2 connections, nothing read or written) in {floor['seconds']:.1f}s = "
            f"{floor_rate:,.0f} rows/s = {floor_rate / pt_rate:.2f}x pt-archiver{server}; "
            f"tierflow runs at {tf_rate / floor_rate:.0%} of it"
        )
        print(f"bytes ratio : {tf['bytes'] / pt['bytes']:.1%} of pt-archiver's text (target <= 25%)")
        print(f"tierflow peak RSS: {tf['rss_kb'] / 1024:.0f} MB at {moved_tf:,} cold rows (target <= 512 MB)")
        for size in [int(s) for s in args.rss_sizes.split(",") if s]:
            rss_kb, seconds = rss_of_run(size, moto, workdir / "tiers.yaml")
            print(
                f"tierflow peak RSS: {rss_kb / 1024:.0f} MB at {size:,} cold rows ({size / seconds:,.0f} rows/s)"
            )
    finally:
        moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
