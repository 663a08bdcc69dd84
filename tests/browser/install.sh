#!/usr/bin/env bash
# Makes sure headless Chromium is on the machine: `tests/browser/install.sh`.
#
# The dashboard's browser tests (tests/e2e/tests/dashboard_browser.rs) drive a real Chromium
# over the DevTools protocol. It comes from Debian's `chromium` package, installed once when
# missing; its profile in each test is a throw-away directory under the system's temp dir,
# never the repository. Prints the path of the binary on stdout.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "install.sh: need root to apt-get install chromium" >&2; exit 1; }
  echo "install.sh: installing chromium" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
fi
command -v chromium
