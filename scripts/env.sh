# Sourced by the Makefile's scripts: local defaults for tierflow and a project-local Airflow.
# Every value can be overridden from the caller's environment (see .env.example).
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TIERFLOW_MYSQL_URL=${TIERFLOW_MYSQL_URL:-mysql://root@127.0.0.1:3306/lending}
export TIERFLOW_WAREHOUSE_URL=${TIERFLOW_WAREHOUSE_URL:-postgresql://postgres@127.0.0.1:5432/tierflow_warehouse}
export TIERFLOW_REDIS_URL=${TIERFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}
export TIERFLOW_ARCHIVE_URI=${TIERFLOW_ARCHIVE_URI:-file://$_root/.data/archive}
export TIERFLOW_POLICY=${TIERFLOW_POLICY:-$_root/include/tiers.yaml}

export AIRFLOW_HOME=${AIRFLOW_HOME:-$_root/.airflow}
export AIRFLOW__CORE__DAGS_FOLDER=$_root/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$_root/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=${AIRFLOW__CORE__UNIT_TEST_MODE:-False}
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-postgresql+psycopg2://postgres@127.0.0.1:5432/airflow}
export AIRFLOW__LOGGING__BASE_LOG_FOLDER=$AIRFLOW_HOME/logs
export PYTHONPATH=$_root/include:$_root/plugins:$_root/dags${PYTHONPATH:+:$PYTHONPATH}
# Airflow Connections the DAGs read (ids listed in plugins/tierflow_airflow/connections.py).
export AIRFLOW_CONN_TIERFLOW_MYSQL=${AIRFLOW_CONN_TIERFLOW_MYSQL:-$TIERFLOW_MYSQL_URL}
export AIRFLOW_CONN_TIERFLOW_WAREHOUSE=${AIRFLOW_CONN_TIERFLOW_WAREHOUSE:-${TIERFLOW_WAREHOUSE_URL/postgresql:/postgres:}}
export AIRFLOW_CONN_TIERFLOW_REDIS=${AIRFLOW_CONN_TIERFLOW_REDIS:-$TIERFLOW_REDIS_URL}
export AIRFLOW_VAR_TIERFLOW_ARCHIVE_URI=${AIRFLOW_VAR_TIERFLOW_ARCHIVE_URI:-$TIERFLOW_ARCHIVE_URI}
export AIRFLOW_VAR_TIERFLOW_POLICY=${AIRFLOW_VAR_TIERFLOW_POLICY:-$TIERFLOW_POLICY}
export PATH=$_root/.venv/bin:$PATH
unset _root
# No usage telemetry from the tools (the machines running tierflow may have no internet at all).
export AIRFLOW__COSMOS__ENABLE_TELEMETRY=${AIRFLOW__COSMOS__ENABLE_TELEMETRY:-False}
export DO_NOT_TRACK=${DO_NOT_TRACK:-1}
export DBT_SEND_ANONYMOUS_USAGE_STATS=${DBT_SEND_ANONYMOUS_USAGE_STATS:-False}
export GX_ANALYTICS_ENABLED=${GX_ANALYTICS_ENABLED:-False}
export SCARF_ANALYTICS=${SCARF_ANALYTICS:-false}
