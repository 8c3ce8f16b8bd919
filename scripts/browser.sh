#!/usr/bin/env bash
# Install the headless browser the end-to-end UI test drives: Debian's chromium + chromium-driver.
# Playwright never downloads its own browser here; the test points it at /usr/bin/chromium.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -eq 0 ]; then
  echo "chromium present: $(chromium --version 2>/dev/null || echo unknown)"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "==> installing OS packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
else
  echo "error: missing ${need[*]}; install Debian's chromium and chromium-driver packages" >&2
  exit 1
fi
echo "chromium installed: $(chromium --version 2>/dev/null || echo unknown)"
