#!/usr/bin/env bash
# Make sure MySQL/MariaDB (3306), PostgreSQL (5432) and Redis (6379) answer on 127.0.0.1.
# Uses running servers; starts installed ones; installs missing ones with apt-get when root;
# otherwise stops and names exactly what to start.
set -uo pipefail

MYSQL_HOST=${MYSQL_HOST:-127.0.0.1}; MYSQL_PORT=${MYSQL_PORT:-3306}
PG_HOST=${PG_HOST:-127.0.0.1}; PG_PORT=${PG_PORT:-5432}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}; REDIS_PORT=${REDIS_PORT:-6379}

can_apt() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }
apt_updated=0
apt_install() {
  if ! can_apt; then return 1; fi
  if [ $apt_updated = 0 ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" "$2" && return 0; sleep 0.5; done
  return 1
}
fail() { echo "error: $*" >&2; exit 1; }

ensure_mysql() {
  if port_open "$MYSQL_HOST" "$MYSQL_PORT"; then echo "MySQL    up on $MYSQL_HOST:$MYSQL_PORT"; return; fi
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ] && ! command -v mysqld >/dev/null 2>&1; then
    echo "==> installing MariaDB server"
    apt_install mariadb-server mariadb-client || fail "no MySQL on $MYSQL_HOST:$MYSQL_PORT; start one (e.g. 'sudo systemctl start mariadb') or set TIERFLOW_MYSQL_URL"
  fi
  echo "==> starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then mariadb-install-db --user=mysql >/dev/null 2>&1 || true; fi
  (service mariadb start >/dev/null 2>&1) \
    || start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql 2>/dev/null \
    || true
  wait_port "$MYSQL_HOST" "$MYSQL_PORT" || fail "MariaDB did not start; start it with 'start-stop-daemon --start --background --exec /usr/sbin/mariadbd'"
  echo "MySQL    started on $MYSQL_HOST:$MYSQL_PORT"
}

ensure_postgres() {
  if port_open "$PG_HOST" "$PG_PORT"; then echo "Postgres up on $PG_HOST:$PG_PORT"; return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "==> installing PostgreSQL"
    apt_install postgresql || fail "no PostgreSQL on $PG_HOST:$PG_PORT; start one (e.g. 'sudo systemctl start postgresql') or set TIERFLOW_WAREHOUSE_URL"
  fi
  echo "==> starting PostgreSQL"
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || service postgresql start >/dev/null 2>&1 || true
  wait_port "$PG_HOST" "$PG_PORT" || fail "PostgreSQL did not start; start it with 'pg_ctlcluster $ver main start'"
  echo "Postgres started on $PG_HOST:$PG_PORT"
}

ensure_redis() {
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then echo "Redis    up on $REDIS_HOST:$REDIS_PORT"; return; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "==> installing Redis"
    apt_install redis-server || fail "no Redis on $REDIS_HOST:$REDIS_PORT; start one ('redis-server --daemonize yes') or set TIERFLOW_REDIS_URL"
  fi
  echo "==> starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/tierflow.log >/dev/null
  wait_port "$REDIS_HOST" "$REDIS_PORT" || fail "Redis did not start; start it with 'redis-server --daemonize yes'"
  echo "Redis    started on $REDIS_HOST:$REDIS_PORT"
}

# The local development logins: MySQL root and PostgreSQL postgres without a password, over TCP on
# 127.0.0.1 only (what TIERFLOW_*_URL default to). A stock Debian server refuses both (MariaDB's root
# logs in by Unix socket only, PostgreSQL asks for a password); when this script can act as the
# local administrator it opens exactly those two logins and says so, otherwise it names the fix.
mysql_login_ok() { mysql -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot -e "SELECT 1" >/dev/null 2>&1; }
ensure_mysql_login() {
  command -v mysql >/dev/null 2>&1 || return 0
  mysql_login_ok && return 0
  if [ "$(id -u)" = 0 ] && [ "$MYSQL_HOST" = 127.0.0.1 ] && mysql -uroot -e "SELECT 1" >/dev/null 2>&1; then
    mysql -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
      ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
      FLUSH PRIVILEGES;" 2>/dev/null || true
    mysql_login_ok && { echo "MySQL    local login root@127.0.0.1 without password enabled (development server)"; return 0; }
  fi
  fail "MySQL on $MYSQL_HOST:$MYSQL_PORT refuses root without a password; set TIERFLOW_MYSQL_URL=mysql://user:password@host:port/lending (and TIERFLOW_TEST_MYSQL_SERVER for the tests)"
}
pg_login_ok() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1; }
ensure_pg_login() {
  command -v psql >/dev/null 2>&1 || return 0
  pg_login_ok && return 0
  local hba
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -1)
  if [ "$(id -u)" = 0 ] && [ "$PG_HOST" = 127.0.0.1 ] && [ -n "$hba" ]; then
    if ! grep -q "tierflow local development" "$hba"; then
      { echo "# tierflow local development: postgres over loopback without a password"
        echo "host all all 127.0.0.1/32 trust"
        echo "host all all ::1/128 trust"
        cat "$hba"; } >"$hba.tierflow" && cat "$hba.tierflow" >"$hba" && rm -f "$hba.tierflow"
    fi
    ver=$(basename "$(dirname "$(dirname "$hba")")")
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 || service postgresql reload >/dev/null 2>&1 || true
    sleep 1
    pg_login_ok && { echo "Postgres local login postgres@127.0.0.1 without password enabled ($hba)"; return 0; }
  fi
  fail "PostgreSQL on $PG_HOST:$PG_PORT refuses postgres without a password; set TIERFLOW_WAREHOUSE_URL=postgresql://user:password@host:port/tierflow_warehouse and AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
}

ensure_mysql
ensure_postgres
ensure_redis
# only for the default URLs: a URL with its own credentials is the user's to provide
case "${TIERFLOW_MYSQL_URL:-mysql://root@127.0.0.1}" in mysql://root@127.0.0.1*) ensure_mysql_login ;; esac
case "${TIERFLOW_WAREHOUSE_URL:-postgresql://postgres@127.0.0.1}" in postgresql://postgres@127.0.0.1*) ensure_pg_login ;; esac

# The query advisor reads the local warehouse's query history from pg_stat_statements, which the
# server must preload. Only the local development cluster is configured, and it is restarted only
# when the library is not loaded yet (one restart, on the first setup).
ensure_pg_stat_statements() {
  command -v psql >/dev/null 2>&1 || return 0
  local q="psql -h $PG_HOST -p $PG_PORT -U postgres -d postgres -Atc"
  local now
  now=$($q "SHOW shared_preload_libraries" 2>/dev/null) || return 0
  case ",${now// /}," in *,pg_stat_statements,*) return 0 ;; esac
  if [ "$(id -u)" != 0 ] || [ "$PG_HOST" != 127.0.0.1 ] || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "note: PostgreSQL does not preload pg_stat_statements; add it to shared_preload_libraries for 'tierflow advise'"
    return 0
  fi
  $q "ALTER SYSTEM SET shared_preload_libraries = '${now:+$now,}pg_stat_statements'" >/dev/null
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main restart 2>/dev/null || service postgresql restart >/dev/null 2>&1 || true
  wait_port "$PG_HOST" "$PG_PORT" || fail "PostgreSQL did not restart; start it with 'pg_ctlcluster $ver main start'"
  echo "Postgres pg_stat_statements preloaded (restarted once)"
}
case "${TIERFLOW_WAREHOUSE_URL:-postgresql://postgres@127.0.0.1}" in postgresql://postgres@127.0.0.1*) ensure_pg_stat_statements ;; esac

# Bulk loads (seed, archive, restore, benchmarks) thrash a stock local server: InnoDB's 128 MB
# buffer pool and Debian's 96 MB redo log (which forces a checkpoint every few seconds of a bulk
# load). Give the local development server 1 GB of each, as production servers have. Both settings
# are dynamic (the redo log since MariaDB 10.9) and apply to this running server only.
if command -v mysql >/dev/null 2>&1; then
  raise() {  # variable, bytes, label
    local now
    now=$(mysql -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot -N -e "SELECT @@$1" 2>/dev/null || echo 0)
    if [ "${now:-0}" -lt "$2" ] 2>/dev/null; then
      mysql -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot -e "SET GLOBAL $1 = $2" 2>/dev/null \
        && echo "MySQL    $1 raised to $3 for bulk loads"
    fi
  }
  raise innodb_buffer_pool_size 1073741824 "1 GB"
  raise innodb_log_file_size 1073741824 "1 GB"
fi
