#!/usr/bin/env bash
# Builds the release binaries and lays out one root filesystem per image under OUT:
#
#   OUT/agent-runtime/usr/local/bin/agent-runtime     OUT/operator/usr/local/bin/tradeplane-operator
#   OUT/<image>/lib…/  the shared libraries the binary links (ldd), at their usual paths
#   OUT/<image>/tmp/   empty; pods mount an emptyDir there (the root filesystem is read-only)
#
# The same script runs in the Dockerfile's `build` stage and on the host (`make image`), so an
# image built with a registry and one built here hold the same kind of tree. Nothing else goes
# in: no shell, no package manager, no /etc/passwd (the images run as the numeric UID 65532),
# no CA bundle (the Kubernetes client trusts the service account's ca.crt; reqwest's rustls
# has the webpki roots compiled in).
#
# Release builds use $CARGO_TARGET_DIR, by default $TRADEPLANE_CACHE/target-release, outside
# the repository, so every clone and CI run on a machine reuse one warm build.
set -euo pipefail
out=${1:?usage: rootfs.sh OUT}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target-release}

# image name → binary
declare -A binaries=([agent-runtime]=agent-runtime [operator]=tradeplane-operator)

(cd "$repo" && cargo build --release --locked \
  -p tradeplane-agent-runtime --bin agent-runtime \
  -p tradeplane-operator --bin tradeplane-operator)

# Copies FILE into ROOT at the same path, following symlinks so the image holds real files.
place() {
  local root=$1 file=$2
  mkdir -p "$root$(dirname "$file")"
  cp -L --preserve=mode "$file" "$root$file"
}

# The absolute paths of the libraries BINARY loads, its program interpreter included.
libraries() {
  # ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and
  # "/lib64/ld-linux-x86-64.so.2 (0x…)"; linux-vdso has no file.
  # A static binary makes ldd fail ("not a dynamic executable"): it then needs no library.
  { ldd "$1" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u
}

rm -rf "$out"
for image in "${!binaries[@]}"; do
  binary=$CARGO_TARGET_DIR/release/${binaries[$image]}
  root=$out/$image
  mkdir -p "$root/usr/local/bin"
  install -m 0755 "$binary" "$root/usr/local/bin/${binaries[$image]}"
  libs=$(libraries "$binary")
  for lib in $libs; do
    place "$root" "$lib"
  done
  install -d -m 1777 "$root/tmp"
  echo "rootfs.sh: $image: $(du -sh --apparent-size "$root" | cut -f1) ($(echo "$libs" | xargs -r -n1 basename | paste -sd' '))" >&2
done
