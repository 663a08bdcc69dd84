#!/usr/bin/env bash
# Makes sure promtool, prometheus and amtool are on the machine: `tests/prometheus/install.sh`.
#
# The alert tests check every rule file the operator renders with `promtool check rules` and
# `promtool test rules`; the scrape test runs a real `prometheus`; the Alertmanager example is
# checked with `amtool check-config`. All three come from Debian's packages (`prometheus`,
# `prometheus-alertmanager`), so this installs them once when one is missing and does nothing
# otherwise. The packages' services are not started: the tests run their own processes.
# Prints the directory holding promtool on stdout.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)

if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "install.sh: need root to apt-get install ${missing[*]}" >&2; exit 1; }
  echo "install.sh: installing ${missing[*]}" >&2
  # A policy-rc.d that refuses (exit 101) keeps the packages from starting their daemons;
  # an existing policy is left as it is.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  trap '[ -z "$own_policy" ] || rm -f "$policy"' EXIT
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) >&2
fi

promtool=$(command -v promtool) || { echo "install.sh: promtool still missing" >&2; exit 1; }
dirname "$promtool"
