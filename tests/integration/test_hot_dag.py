"""DAG hot_tier_reconcile run for real (`airflow dags test`) against seeded MySQL and a private Redis."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date

import redis
from tierflow.hot.store import RECONCILE_KEY
from tierflow.paths import PROJECT_ROOT


def test_hot_tier_reconcile_dag_rebuilds_the_hot_tier(mysql_url: str, redis_url: str) -> None:
    from tierflow.devdata import seed_database

    seed_database(
        mysql_url, scale="tiny", years=1, seed=3, as_of=date.today(), recreate=False, progress=False
    )
    # Connections from the environment win over TIERFLOW_*: point both at this test's services.
    env = dict(
        os.environ,
        TIERFLOW_MYSQL_URL=mysql_url,
        TIERFLOW_REDIS_URL=redis_url,
        AIRFLOW_CONN_TIERFLOW_MYSQL=mysql_url,
        AIRFLOW_CONN_TIERFLOW_REDIS=redis_url,
    )
    airflow = PROJECT_ROOT / ".venv" / "bin" / "airflow"
    done = subprocess.run(
        [str(airflow), "dags", "test", "hot_tier_reconcile"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    client = redis.Redis.from_url(redis_url)
    report = json.loads(client.get(RECONCILE_KEY))
    assert report["customers"] > 0
    assert report["drifted_keys"] > 0  # Redis started empty: everything was missing, now repaired
    assert any(client.scan_iter(match="tierflow:hot:{*}:loan_transactions", count=1000))
    assert client.config_get("maxmemory")["maxmemory"] == str(512 * 1024 * 1024)
    client.config_set("maxmemory", "0")
    client.close()
