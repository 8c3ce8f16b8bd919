#!/usr/bin/env bash
# The platform end to end, once: seed a multi-year lending dataset, then run every DAG in dags/ with
# `airflow dags test`, check each run's state, and print what happened and where to look.
# Called by `make demo` after setup (services and databases ready). Safe to run again: each run
# starts from a fresh dataset (the seed recreates the source database; the demo's local archive,
# warehouse database and hot-tier Redis db are reset first, so no tier holds rows of an older seed).
#
# Knobs (environment): TIERFLOW_DEMO_SCALE (small), TIERFLOW_DEMO_YEARS (3), TIERFLOW_DEMO_SEED (42),
# TIERFLOW_DEMO_RESET (1; 0 keeps the archive, warehouse and Redis as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# The demo archives at whatever hour it runs: it reads a copy of the policy without the run window
# (include/tiers.yaml keeps archive runs to 01:00-05:00 IST).
mkdir -p .data
python - "$TIERFLOW_POLICY" .data/demo-tiers.yaml <<'PY'
import sys

import yaml

raw = yaml.safe_load(open(sys.argv[1]))
raw["archive"].pop("run_window", None)
open(sys.argv[2], "w").write(yaml.safe_dump(raw, sort_keys=False))
PY
export TIERFLOW_POLICY=$PWD/.data/demo-tiers.yaml AIRFLOW_VAR_TIERFLOW_POLICY=$PWD/.data/demo-tiers.yaml

SCALE=${TIERFLOW_DEMO_SCALE:-small}
YEARS=${TIERFLOW_DEMO_YEARS:-3}
SEED=${TIERFLOW_DEMO_SEED:-42}
RESET=${TIERFLOW_DEMO_RESET:-1}
# The platform's DAGs in the demo's order: the warehouse's first load comes before the first
# archive, so the marts hold the whole seeded history; any other DAG file runs after them.
DAG_ORDER=(warehouse_refresh nightly_archive hot_tier_reconcile tier_audit query_advisor)
# What each DAG is triggered with: the archive for real (its form defaults to a dry run).
declare -A DAG_CONF=([nightly_archive]='{"dry_run": false, "allow_large_run": true}' [warehouse_refresh]='{"full_refresh": true}')
LOG_DIR="$AIRFLOW_HOME/demo-logs"
DATA_DIR=.data
mkdir -p "$LOG_DIR"

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

demo_started=$(now)
declare -a RESULTS=()

summary() {
  local status=$1
  step "Summary"
  echo "Seeded ($SCALE scale, $YEARS years to $(date +%F), seed $SEED):"
  if [ -s "$LOG_DIR/rows.txt" ]; then sed 's/^/  /' "$LOG_DIR/rows.txt"; fi
  echo
  echo "DAG runs (airflow dags test):"
  if [ ${#RESULTS[@]} -eq 0 ]; then echo "  (none)"; fi
  for line in "${RESULTS[@]}"; do echo "  $line"; done
  echo
  echo "Where to look:"
  echo "  archive (Parquet)   ${TIERFLOW_ARCHIVE_URI}   (e.g. find ${TIERFLOW_ARCHIVE_URI#file://} -name '*.parquet' | head)"
  echo "  tier report         source scripts/env.sh && tierflow tiers report   (chart: $DATA_DIR/tier_chart.png)"
  echo "  hot tier lookup     source scripts/env.sh && tierflow hot get customer <id>"
  echo "  UI page             Airflow UI -> Storage tiers (plugin tierflow), after: airflow standalone"
  if tierflow query --help >/dev/null 2>&1; then
    echo "  archive SQL         source scripts/env.sh && tierflow query --help"
  fi
  echo "  query advisor       source scripts/env.sh && tierflow advise   (report: $DATA_DIR/advisor_report.json)"
  echo "  policy              source scripts/env.sh && tierflow policy check"
  echo "  source MySQL        mysql -h127.0.0.1 -uroot ${TIERFLOW_MYSQL_URL##*/}   ($TIERFLOW_MYSQL_URL)"
  echo "  warehouse           psql ${TIERFLOW_WAREHOUSE_URL}"
  echo "  hot tier            redis-cli -u ${TIERFLOW_REDIS_URL}"
  echo "  Airflow UI          source scripts/env.sh && airflow standalone   (or: airflow api-server --port 8080)"
  echo "  DAG run logs        $LOG_DIR/<dag_id>.log"
  echo
  if [ "$status" = ok ]; then
    bold "demo finished in $(elapsed "$demo_started" "$(now)") s"
  else
    bold "demo FAILED after $(elapsed "$demo_started" "$(now)") s: $status"
  fi
}

if [ "$RESET" = 1 ]; then
  step "Resetting the demo's tiers (local archive, warehouse database, hot-tier Redis db)"
  python - <<'PY'
"""Reset only local, demo-owned state; refuse anything that is not on this machine."""
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tierflow.paths import PROJECT_ROOT
from tierflow.urls import parse, redact

LOCAL = {"127.0.0.1", "localhost", "::1"}

archive = urlsplit(os.environ["TIERFLOW_ARCHIVE_URI"])
if archive.scheme == "file":
    root = Path(unquote(archive.path)).resolve()
    if not root.is_relative_to(PROJECT_ROOT / ".data"):
        print(f"  archive  {root}: kept (outside {PROJECT_ROOT / '.data'})")
    elif root.exists():
        shutil.rmtree(root)
        print(f"  archive  {root}: removed")
    else:
        print(f"  archive  {root}: empty")
else:
    print(f"  archive  {archive.geturl()}: kept (not a local directory)")

wh_url = os.environ["TIERFLOW_WAREHOUSE_URL"]
wh = parse(wh_url)
if wh.scheme.startswith("postgres") and wh.host in LOCAL and wh.database:
    from tierflow.stores import warehouse

    with warehouse.connection(wh_url, database="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{wh.database}" WITH (FORCE)')
    warehouse.ensure_database(wh_url)
    print(f"  warehouse {redact(wh_url)}: recreated empty")
else:
    print(f"  warehouse {redact(wh_url)}: kept (not a local PostgreSQL)")

redis_url = os.environ["TIERFLOW_REDIS_URL"]
if parse(redis_url).host in LOCAL:
    from tierflow.stores import redis as hot

    hot.client(redis_url).flushdb()
    print(f"  hot tier {redact(redis_url)}: flushed")
else:
    print(f"  hot tier {redact(redis_url)}: kept (not a local Redis)")
PY
fi

step "Seeding the source database: tierflow seed --scale $SCALE --years $YEARS --seed $SEED --publish-events"
seed_started=$(now)
# When the reset emptied the demo's local archive, the old ledger describes nothing: the seed may
# drop the database by name. Otherwise the seed refuses to drop a database whose ledger is not empty.
drop_existing=()
if [ "$RESET" = 1 ] && [[ "$TIERFLOW_ARCHIVE_URI" == "file://$PWD/.data/"* ]]; then
  db_name=${TIERFLOW_MYSQL_URL##*/}
  drop_existing=(--drop-existing "${db_name%%\?*}")
fi
tierflow seed --scale "$SCALE" --years "$YEARS" --seed "$SEED" --publish-events "${drop_existing[@]}"
seed_seconds=$(elapsed "$seed_started" "$(now)")
python - "$seed_seconds" >"$LOG_DIR/rows.txt" <<'PY'
import os
import sys

from tierflow.policy import load_policy
from tierflow.stores import mysql

url = os.environ["TIERFLOW_MYSQL_URL"]
tables = list(load_policy(os.environ["TIERFLOW_POLICY"]).tables)
total = 0
with mysql.connection(url) as conn:
    cur = conn.cursor()
    for table in reversed(tables):  # parents first reads naturally
        cur.execute(f"SELECT COUNT(*) FROM {mysql.quote_ident(table)}")
        rows = cur.fetchone()[0]
        total += rows
        print(f"{table:22} {rows:>12,} rows")
print(f"{'total':22} {total:>12,} rows in {float(sys.argv[1]):.1f} s")
PY
cat "$LOG_DIR/rows.txt"

step "Hot tier from events: tierflow hot consume --until-idle"
# The seed published the hot window as row-change events (what the lending apps do in production);
# the consumer group applies them to Redis. The nightly hot_tier_reconcile DAG below then finds
# nothing to repair.
tierflow hot consume --until-idle --consumer demo | tee "$LOG_DIR/hot-consume.json"
sample=$(python - <<'PY'
import os
from tierflow.stores import mysql
with mysql.connection(os.environ["TIERFLOW_MYSQL_URL"]) as conn:
    cur = conn.cursor()
    cur.execute("SELECT customer_id FROM loan_transactions ORDER BY created_at DESC LIMIT 1")
    row = cur.fetchone()
print(row[0] if row else 1)
PY
)
echo "one customer's hot view (tierflow hot get customer $sample), features:"
tierflow hot get customer "$sample" | python -c 'import json,sys; v=json.load(sys.stdin); print(json.dumps(v["features"], indent=1)); print({k: len(v[k]) for k in v if isinstance(v[k], list)})'

step "Airflow pool for the source MySQL"
airflow pools set tierflow_mysql 2 "source MySQL load" >"$LOG_DIR/pools.log" 2>&1 \
  || { tail -20 "$LOG_DIR/pools.log" >&2; exit 1; }
echo "pool tierflow_mysql: 2 slots"

# The DAG files present, the platform's ones first in their nightly order.
dags=()
for dag_id in "${DAG_ORDER[@]}"; do
  [ -f "dags/$dag_id.py" ] && dags+=("$dag_id")
done
for path in dags/*.py; do
  [ -e "$path" ] || continue
  dag_id=$(basename "$path" .py)
  [[ $dag_id == _* ]] && continue
  [[ " ${dags[*]} " == *" $dag_id "* ]] || dags+=("$dag_id")
done
if [ ${#dags[@]} -eq 0 ]; then
  echo "no DAG files in dags/ yet: nothing to run"
fi

# State of the run with this logical date, read back from the metadata database.
run_state() {
  { airflow dags list-runs "$1" -o json 2>/dev/null || true; } | python -c '
import json, sys
from datetime import datetime
want = datetime.fromisoformat(sys.argv[1])
# Airflow may print warnings on stdout before the JSON list.
lines = [line for line in sys.stdin.read().splitlines() if line.startswith("[")]
runs = json.loads(lines[-1]) if lines else []
for run in runs:
    if run.get("logical_date") and datetime.fromisoformat(run["logical_date"]) == want:
        print(run["state"]); break
else:
    print("not-found")
' "$2" || echo unknown
}

for dag_id in "${dags[@]}"; do
  logical=$(date -u +%Y-%m-%dT%H:%M:%S+00:00)
  conf=${DAG_CONF[$dag_id]:-"{}"}
  step "airflow dags test $dag_id $logical -c '$conf'"
  log="$LOG_DIR/$dag_id.log"
  started=$(now)
  set +e
  airflow dags test "$dag_id" "$logical" -c "$conf" >"$log" 2>&1
  rc=$?
  set -e
  seconds=$(elapsed "$started" "$(now)")
  state=$(run_state "$dag_id" "$logical")
  if [ $rc -ne 0 ] || [ "$state" != success ]; then
    RESULTS+=("$(printf '%-20s FAILED (exit %s, state %s) in %6s s   log: %s' "$dag_id" "$rc" "$state" "$seconds" "$log")")
    echo "---- errors in $log ----" >&2
    grep -E '"level": "error"|\[error|ERROR|Error:|Exception|VIOLATION' "$log" | tail -20 >&2 || true
    echo "---- last 40 lines of $log ----" >&2
    tail -40 "$log" >&2
    summary "$dag_id did not succeed"
    exit 1
  fi
  grep -E "Marking task as SUCCESS|Task instance .* finished|state=success" "$log" | tail -5 || true
  RESULTS+=("$(printf '%-20s success in %6s s' "$dag_id" "$seconds")")
  echo "$dag_id: success in $seconds s"
done

step "Query advisor: a small analyst workload on the warehouse, then tierflow advise"
# Repeated aggregate shapes with varying literals, cheap lookups and shapes that must be refused
# (tierflow.advisor.workload), read back from pg_stat_statements; each promoted shape is proved.
python - <<'PY'
import os

from tierflow.advisor import workload
from tierflow.stores import warehouse

with warehouse.connection(os.environ["TIERFLOW_WAREHOUSE_URL"], autocommit=True) as conn:
    print(f"{len(workload.run(conn, repeats=5, one_offs=20))} analyst queries run")
PY
tierflow advise --min-calls 3 --top 10 || true
tierflow advise --min-calls 3 --top 10 --json >"$DATA_DIR/advisor_report.json" || true
python - "$DATA_DIR/advisor_report.json" <<'PY'
import json
import sys

try:
    report = json.load(open(sys.argv[1]))
except ValueError:
    report = []
promoted = [c for c in report if c["promotable"]]
for c in promoted:
    print(f"  {c['fingerprint']} -> {c['model_name']}: equal on {c['literal_sets']} literal sets, "
          f"{c['original_ms']:.1f} ms -> {c['rewrite_ms']:.1f} ms")
print(f"{len(promoted)} promoted candidate(s) with their proof; apply one with: tierflow advise apply FINGERPRINT")
PY

step "Tier report: tierflow tiers report --chart $DATA_DIR/tier_chart.png"
mkdir -p "$DATA_DIR"
tierflow tiers report --chart "$DATA_DIR/tier_chart.png" || true
tierflow tiers report --json >"$DATA_DIR/tier_report.json" || true
echo "JSON: $DATA_DIR/tier_report.json   chart: $DATA_DIR/tier_chart.png"

summary ok
