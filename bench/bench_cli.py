"""CLI start-up benchmark (`make bench-cli`): wall clock of whole `tierflow` processes.

Times, as separate processes, in turn (A B C A B C ...) so a drifting machine slows all alike:
1. `python -c pass`, the floor: the interpreter alone, no tierflow;
2. `tierflow --help` (target <= 0.5 s);
3. `tierflow hot get customer N` (target <= 1 s) against its own redis-server on a free loopback
   port (the shared one is left alone), holding that customer as written by the hot store's own
   write path (`HotStore.apply` of synthetic row-change events).
Each is run twice over, whatever .pyc files the venv holds (PYTHONPYCACHEPREFIX points Python at a
private bytecode cache instead): with bytecode, as `make setup` leaves the venv (uv compiles it),
then from source, as a venv installed without compiling where Python may not write .pyc files
(PYTHONDONTWRITEBYTECODE, common in containers): every call then compiles what it imports.
Prints min / median / max wall clock, the margin over the floor, and the median's ratio to target.
Usage: python bench/bench_cli.py [--runs 7] [--customer 7]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT))

import redis
from tierflow.hot.store import HotStore
from tierflow.hot.synthetic import synthetic_events
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy

from bench.bench_hot import start_redis

AS_OF = datetime(2026, 6, 30, 12)
TARGET_HELP_S = 0.5
TARGET_HOT_GET_S = 1.0


@dataclass
class Case:
    name: str
    argv: list[str]
    target: float | None
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def tierflow_bin() -> str:
    return shutil.which("tierflow", path=str(ROOT / ".venv" / "bin")) or "tierflow"


def python_bin() -> str:
    # the interpreter the `tierflow` script runs on (its #! line), so the floor is the same Python
    first = Path(tierflow_bin()).read_text().splitlines()[0]
    return first[2:].strip() if first.startswith("#!") else sys.executable


def hot_rows(view: dict) -> int:
    """Rows in a customer's hot view (its tables are the lists; features and ids are not)."""
    return sum(len(v) for v in view.values() if isinstance(v, list))


def seed_customer(url: str, customer: int) -> int:
    """Write the customers' rows through the hot store; returns how many rows `customer` holds."""
    policy = load_policy(DEFAULT_POLICY)
    client = redis.Redis.from_url(url)
    store = HotStore(client, policy, clock=lambda: AS_OF)
    store.apply(synthetic_events(max(customer, 50), 6, AS_OF, seed=7))
    view = store.get_customer(customer)
    client.close()
    return hot_rows(view)


def run_once(case: Case, env: dict[str, str]) -> str:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(case.argv, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(case.argv)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    case.wall.append(wall)
    case.cpu.append((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))
    return proc.stdout


def measure(cases: list[Case], env: dict[str, str], runs: int) -> list[str]:
    """Times each case `runs` times, in turn; returns each one's output of its warm-up run."""
    # warm-up, not counted: page cache, and the bytecode cache when there is one
    outputs = [run_once(case, env) for case in cases]
    for case in cases:
        case.wall.clear()
        case.cpu.clear()
    for _ in range(runs):
        for case in cases:
            run_once(case, env)
    return outputs


def with_bytecode(env: dict[str, str], cache: Path) -> dict[str, str]:
    """Python reads and writes .pyc files under `cache` only (PYTHONPYCACHEPREFIX), never in the
    venv's __pycache__ folders, so a mode does not depend on what the venv holds."""
    plain = {k: v for k, v in env.items() if k not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"}}
    return {**plain, "PYTHONPYCACHEPREFIX": str(cache)}


def from_source(env: dict[str, str], warm: Path, cache: Path) -> dict[str, str]:
    """Bytecode for the standard library only (copied from the warm cache), none for site-packages
    or tierflow, and none written: a venv installed without compiling, where Python may not write."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]).relative_to("/")
    if not (warm / stdlib).is_dir():
        raise RuntimeError(f"no standard-library bytecode under {warm}: PYTHONPYCACHEPREFIX was not used")
    shutil.copytree(warm / stdlib, cache / stdlib)
    return {**with_bytecode(env, cache), "PYTHONDONTWRITEBYTECODE": "1"}


def report(title: str, cases: list[Case]) -> None:
    print(title)
    floor = statistics.median(cases[0].wall)
    for case in cases:
        med = statistics.median(case.wall)
        line = (
            f"  {case.name:<30} wall min {min(case.wall):.3f}  median {med:.3f}  max {max(case.wall):.3f} s"
            f"  (cpu median {statistics.median(case.cpu):.3f} s, {med - floor:+.3f} s over the floor)"
        )
        if case.target is not None:
            verdict = "OK" if med <= case.target else "MISSED"
            line += f"  = {med / case.target:.2f}x the {case.target:g} s target ({verdict})"
        print(line)


def venv_compiled() -> bool:
    import typer

    return Path(importlib.util.cache_from_source(typer.__file__)).exists()


def bench_mode(title: str, env: dict[str, str], args: argparse.Namespace, rows: int) -> None:
    hot_get = [tierflow_bin(), "hot", "get", "customer", str(args.customer), "--as-of", AS_OF.isoformat()]
    cases = [
        Case("python -c pass (the floor)", [python_bin(), "-c", "pass"], None),
        Case("tierflow --help", [tierflow_bin(), "--help"], TARGET_HELP_S),
        Case(f"tierflow hot get customer {args.customer}", hot_get, TARGET_HOT_GET_S),
    ]
    view = json.loads(measure(cases, env, args.runs)[2])
    got = hot_rows(view)
    if view["customer_id"] != args.customer or got != rows:
        raise RuntimeError(f"hot get returned {got} rows of customer {view['customer_id']}, not {rows}")
    report(f"{title}, {args.runs} runs each:", cases)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each command and mode")
    parser.add_argument("--customer", type=int, default=7, help="customer id to look up")
    args = parser.parse_args()
    server, url = start_redis()
    try:
        rows = seed_customer(url, args.customer)
        if not rows:
            raise RuntimeError(f"customer {args.customer} holds no hot rows; the bench would time a miss")
        env = dict(os.environ, TIERFLOW_REDIS_URL=url, TIERFLOW_LOG_LEVEL="WARNING")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        print(f"hot tier: customer {args.customer} holds {rows} rows in a private redis-server at {url}")
        print(
            "this venv as installed: site-packages "
            + ("compiled" if venv_compiled() else "NOT compiled (each call runs as 'from source')")
            + (", PYTHONDONTWRITEBYTECODE set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "")
        )
        with tempfile.TemporaryDirectory(prefix="tierflow-pyc-") as scratch:
            warm, cold = Path(scratch, "warm"), Path(scratch, "cold")
            bench_mode(
                "with bytecode (as `make setup` leaves the venv)", with_bytecode(env, warm), args, rows
            )
            bench_mode(
                "from source (no .pyc for site-packages: a venv installed without compiling, "
                "where Python may not write them)",
                from_source(env, warm, cold),
                args,
                rows,
            )
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
