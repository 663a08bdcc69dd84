#!/usr/bin/env bash
# Puts back the kernel settings tests/node/up.sh saved (lines "KEY VALUE", KEY under
# /proc/sys) and fails if any of them did not take.
set -euo pipefail
while read -r key value; do
  [ "$(cat "/proc/sys/$key")" = "$value" ] || echo "$value" > "/proc/sys/$key"
  [ "$(cat "/proc/sys/$key")" = "$value" ] || { echo "cannot restore $key=$value" >&2; exit 1; }
done < "$1"
