#!/usr/bin/env bash
# Create .venv and install tierflow with its pinned dependencies (OS build packages first).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

need_os=()
command -v pkg-config >/dev/null 2>&1 || need_os+=(pkg-config)
pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || need_os+=(libmariadb-dev)
# mysqlclient compiles against the headers above: a C compiler and Python's own headers too
command -v gcc >/dev/null 2>&1 || need_os+=(build-essential)
py_include=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null || true)
[ -f "$py_include/Python.h" ] || need_os+=(python3-dev)
"$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || need_os+=(python3-venv)
command -v make >/dev/null 2>&1 || need_os+=(make)
# the Spark SQL test of the archive's catalog (tests/integration/test_archive_spark.py) needs Java 17+
command -v java >/dev/null 2>&1 || need_os+=(openjdk-17-jre-headless)
if [ ${#need_os[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "==> installing OS packages: ${need_os[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_os[@]}" >/dev/null
  else
    echo "error: missing OS packages: ${need_os[*]} (install them with your package manager, e.g. 'sudo apt-get install ${need_os[*]}')" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/pip install -q --disable-pip-version-check uv
fi
echo "==> installing requirements into .venv"
# --compile-bytecode: .pyc files for all of site-packages now, so no `tierflow` call compiles its
# imports from source (Python would not write them itself where PYTHONDONTWRITEBYTECODE is set, as
# in many containers; compiling is most of a start-up's cost then). See `make bench-cli`.
.venv/bin/uv pip install --python .venv/bin/python -q --compile-bytecode -r requirements-dev.txt -c constraints.txt
.venv/bin/uv pip install --python .venv/bin/python -q --no-deps -e .
