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

# Cargo decides freshness by mtimes and its artifacts do not depend on the checkout's path, so
# after another checkout built here, older edits in this one would look fresh and its image
# would hold the other checkout's code. When the last build came from another path with other
# sources, the two workspace packages are cleaned first (dependencies stay warm).
stamp=$CARGO_TARGET_DIR/tradeplane-last-source
sources=$(cd "$repo" && find Cargo.toml Cargo.lock operator agent-runtime tests -type f \
  -not -path '*/target/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
last_repo='' last_sources=''
[ ! -f "$stamp" ] || read -r last_repo last_sources <"$stamp"
if [ -n "$last_repo" ] && [ "$last_repo" != "$repo" ] && [ "$last_sources" != "$sources" ]; then
  echo "rootfs.sh: the last release build came from $last_repo: rebuilding the workspace packages" >&2
  (cd "$repo" && cargo clean --release -q -p tradeplane-agent-runtime -p tradeplane-operator)
fi

(cd "$repo" && cargo build --release --locked \
  -p tradeplane-agent-runtime --bin agent-runtime \
  -p tradeplane-operator --bin tradeplane-operator)
mkdir -p "$CARGO_TARGET_DIR"
echo "$repo $sources" >"$stamp"

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
