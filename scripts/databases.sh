#!/usr/bin/env bash
# Create tierflow's databases on the running services: the MySQL source schema, the warehouse
# database, and Airflow's metadata database (migrated).
set -euo pipefail
source "$(dirname "$0")/env.sh"
tierflow db init
python - <<'PY'
import os
from tierflow.stores.warehouse import ensure_database
from tierflow.urls import parse, redact
ensure_database(os.environ["TIERFLOW_WAREHOUSE_URL"])
# the query advisor reads the warehouse's history from pg_stat_statements (scripts/services.sh preloads it)
from tierflow.advisor.history import ensure_pg_stat_statements
from tierflow.stores.warehouse import connection, is_redshift
if not is_redshift(os.environ["TIERFLOW_WAREHOUSE_URL"]):
    with connection(os.environ["TIERFLOW_WAREHOUSE_URL"], autocommit=True) as conn:
        if not ensure_pg_stat_statements(conn):
            print("note: pg_stat_statements is not preloaded; `tierflow advise` reads no warehouse history")
meta = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
if meta.startswith("postgresql"):
    ensure_database(meta.replace("+psycopg2", ""))
print("warehouse and Airflow metadata databases ready")
PY
mkdir -p "$AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -30 "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
echo "Airflow metadata database migrated"
# The warehouse_refresh DAG renders its dbt tasks from the manifest (Cosmos' manifest load mode),
# so DAG parsing never runs dbt: write it now, from the models as they are in this checkout.
tierflow warehouse parse >"$AIRFLOW_HOME/dbt-parse.log" 2>&1 || { tail -30 "$AIRFLOW_HOME/dbt-parse.log" >&2; exit 1; }
echo "dbt manifest written: dbt/target/manifest.json"
