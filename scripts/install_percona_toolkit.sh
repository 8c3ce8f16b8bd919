#!/usr/bin/env bash
# Installs pt-archiver (Debian package percona-toolkit) for `make bench-archive`. Idempotent.
set -euo pipefail
if command -v pt-archiver >/dev/null 2>&1; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends percona-toolkit >/dev/null
pt-archiver --version
