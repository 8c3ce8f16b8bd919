"""One tierflow deployment on a real Airflow for the whole test session: a seeded MySQL (tiny), a
warehouse database, a private Redis, a file:// archive, the project's policy with a run window the
tests move, and the four Airflow services (with a login) started once.

The tests share it as a night shares one database: each leaves the data as it found it or as a
night would (archived, loaded), and reads only the runs it started.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT

from tests.conftest import AS_OF, MYSQL_SERVER, PG_SERVER, RedisServer, unique_name
from tests.e2e.airflow_stack import AirflowStack

# every DAG file of the project (dag_id == file name)
OUR_DAGS = {p.stem for p in (PROJECT_ROOT / "dags").glob("*.py") if not p.name.startswith("_")}
COUNTED = ("api_request_logs", "user_device_sms", "communication_events", "loans", "customers")


def write_policy(path: Path, window_covers_now: bool) -> None:
    """The project's policy with ``archive.run_window`` around now (or 12 hours away from it)."""
    now = datetime.now(UTC) + (timedelta() if window_covers_now else timedelta(hours=12))
    raw = yaml.safe_load(DEFAULT_POLICY.read_text())
    raw["archive"]["run_window"] = {
        "start": f"{now - timedelta(hours=2):%H:%M}",
        "end": f"{now + timedelta(hours=2):%H:%M}",
        "timezone": "UTC",
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


@dataclass
class Deployment:
    """The stack and the stores its DAGs work on."""

    stack: AirflowStack
    mysql_url: str
    warehouse_url: str
    redis_url: str
    archive_uri: str
    policy: Path

    def run_window(self, covers_now: bool) -> None:
        """Move the policy's run window (tasks read the policy file when they run)."""
        write_policy(self.policy, covers_now)

    def row_counts(self) -> dict[str, int]:
        """Rows in MySQL of a few archived tables."""
        from tierflow.stores import mysql

        with mysql.connection(self.mysql_url) as conn:
            cur = conn.cursor()
            counts = {}
            for table in COUNTED:
                cur.execute(f"SELECT COUNT(*) FROM `{table}`")
                counts[table] = cur.fetchone()[0]
        return counts


@pytest.fixture(scope="session")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    from tierflow.devdata import seed_database
    from tierflow.stores import mysql, warehouse

    tmp = tmp_path_factory.mktemp("airflow_night")
    mysql_url = f"{MYSQL_SERVER}/{unique_name('tfe2e')}"
    warehouse_url = f"{PG_SERVER}/{unique_name('tfe2ewh')}"
    redis = RedisServer()
    policy = tmp / "tiers.yaml"
    write_policy(policy, window_covers_now=False)
    mysql.init_schema(mysql_url)
    stack = None
    try:
        seed_database(mysql_url, scale="tiny", years=3, seed=7, as_of=AS_OF, recreate=False, progress=False)
        warehouse.ensure_database(warehouse_url)
        redis.start()
        tiers = {
            "TIERFLOW_MYSQL_URL": mysql_url,
            "TIERFLOW_REDIS_URL": redis.url,
            "TIERFLOW_WAREHOUSE_URL": warehouse_url,
            "TIERFLOW_ARCHIVE_URI": (tmp / "archive").as_uri(),
            "TIERFLOW_POLICY": str(policy),
        }
        stack = AirflowStack(tmp, tiers, login=True)
        stack.start(OUR_DAGS)
        yield Deployment(stack, mysql_url, warehouse_url, redis.url, tiers["TIERFLOW_ARCHIVE_URI"], policy)
    finally:
        if stack is not None:
            stack.stop()
        redis.stop()
        with warehouse.connection(warehouse_url, database="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{warehouse_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        with mysql.connection(mysql_url, database=False, autocommit=True) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{mysql.database_of(mysql_url)}`")
