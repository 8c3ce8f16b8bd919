"""`tierflow events replay`, `tierflow hot consume|get customer|reconcile|dead-letters` end to end."""

from __future__ import annotations

import json

import pytest
import tierflow.hot.consumer
import tierflow.hot.events
import tierflow.hot.reconcile  # noqa: F401  (loggers bound to the real stderr, not CliRunner's)
from tierflow.cli import app
from tierflow.stores import mysql
from typer.testing import CliRunner

AS_OF = "2026-06-30"


@pytest.fixture
def run(seeded_mysql_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TIERFLOW_MYSQL_URL", seeded_mysql_url)
    monkeypatch.setenv("TIERFLOW_REDIS_URL", redis_url)
    runner = CliRunner()

    def invoke(*args: str) -> dict | list:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        try:
            return json.loads(result.stdout)
        except ValueError:
            return json.loads(lines[-1])

    return invoke


def test_replay_consume_get_reconcile(run, seeded_mysql_url: str) -> None:
    replayed = run("events", "replay", "--as-of", AS_OF)
    total = sum(replayed["published"].values())
    assert replayed["stream"] == "tierflow:events" and total > 0
    consumed = run("hot", "consume", "--until-idle", "--block", "100", "--as-of", AS_OF, "--no-memory-budget")
    assert consumed["events"] == total and consumed["applied"] == total
    with mysql.connection(seeded_mysql_url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT customer_id, COUNT(*) FROM loan_transactions WHERE created_at >= "
            "'2026-06-02 23:59:59.999999' GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        )
        customer, count = cur.fetchone()
    view = run("hot", "get", "customer", str(customer), "--as-of", AS_OF)
    assert view["customer_id"] == customer and len(view["loan_transactions"]) == count
    assert "amount_paid_28d" in view["features"] and view["_lookup_ms"] > 0
    assert run("hot", "reconcile", "--as-of", AS_OF)["drifted_keys"] == 0
    only = run("events", "replay", "--as-of", AS_OF, "--table", "loans")
    assert list(only["published"]) == ["loans"]
    dead = CliRunner().invoke(app, ["hot", "dead-letters"], catch_exceptions=False)
    assert dead.exit_code == 0 and dead.stdout.strip() == ""  # nothing was malformed


def test_unknown_table_is_a_readable_error(run) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["events", "replay", "--table", "customers"])
    assert result.exit_code != 0
    assert "not hot tables: customers" in str(result.exception)
