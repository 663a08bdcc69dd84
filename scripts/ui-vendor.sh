#!/usr/bin/env bash
# Fetches the dashboard's charting library from the npm registry into the cache, once:
# `scripts/ui-vendor.sh` (or `make ui-vendor`). Prints the directory holding it.
#
# Pinned by version and by the registry's sha512 integrity: a tarball whose hash differs is
# refused and nothing is written. The file is never committed; kubectl-tradeplane's build.rs
# embeds it from here (docs/dashboard.md). Licence: Apache-2.0 (docs/dashboard.md).
set -euo pipefail

NAME=lightweight-charts
VERSION=4.2.3
INTEGRITY=sha512-5kS/2hY3wNYNzhnS8Gb+GAS07DX8GPF2YVDnd2NMC85gJVQ6RLU6YrXNgNJ6eg0AnWPwCnvaGtYmGky3HiLQEw==
FILE=dist/lightweight-charts.standalone.production.js

cache=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
dir=$cache/ui/$NAME-$VERSION
if [ -s "$dir/$NAME.js" ] && [ -s "$dir/LICENSE" ]; then
  echo "$dir"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url=https://registry.npmjs.org/$NAME/-/$NAME-$VERSION.tgz
echo "ui-vendor.sh: fetching $url" >&2
curl -fsSL --retry 3 -o "$tmp/package.tgz" "$url"
actual=sha512-$(openssl dgst -sha512 -binary "$tmp/package.tgz" | base64 -w0)
if [ "$actual" != "$INTEGRITY" ]; then
  echo "ui-vendor.sh: $url has integrity $actual, expected $INTEGRITY; refusing it" >&2
  exit 1
fi
tar -xzf "$tmp/package.tgz" -C "$tmp" "package/$FILE" package/LICENSE
mkdir -p "$dir.partial"
cp "$tmp/package/$FILE" "$dir.partial/$NAME.js"
cp "$tmp/package/LICENSE" "$dir.partial/LICENSE"
rm -rf "$dir"
mv "$dir.partial" "$dir"
echo "$dir"
