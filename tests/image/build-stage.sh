#!/usr/bin/env bash
# Checks the Dockerfile's registry path here, where no Rust image can be pulled: builds
# `--target agent-runtime` with ROOTFS=build, so the `build` stage really runs (its COPY list,
# rootfs.sh in a buildah RUN container), and compares the image's files with the tree
# `make image` laid out on the host (build/images/rootfs/agent-runtime). They must be equal.
#
# The stand-in for the Rust image is a base made of nothing but the merged-/usr symlinks; the
# host's /usr, Rust toolchain, cargo registry and release target dir are mounted into the RUN
# step (read-only where they can be), and the network is off, so it builds offline and
# reuses the warm release build. Called by test.sh after build.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
say() { printf 'image test: %s\n' "$*" >&2; }
cache=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
if [ ! -x "$cargo_home/bin/cargo" ] || [ ! -d "$rustup_home/toolchains" ]; then
  say "build stage: SKIPPED (no rustup toolchain in $rustup_home to mount into the build)"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tradeplane-build-stage.XXXXXX")
trap 'rm -rf "$work"' EXIT
buildah=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)

mkdir -p "$work/base/"{etc,root,tmp,usr}
chmod 1777 "$work/base/tmp"
for dir in bin lib lib64 sbin; do ln -s "usr/$dir" "$work/base/$dir"; done
cat >"$work/Containerfile" <<EOF
FROM scratch
COPY base/ /
ENV HOME=/root CARGO_HOME=/root/.cargo RUSTUP_HOME=/root/.rustup CARGO_NET_OFFLINE=true \
    PATH=/root/.cargo/bin:/usr/local/bin:/usr/bin:/bin
EOF
"${buildah[@]}" build --quiet -t localhost/tradeplane-test/rust:host -f "$work/Containerfile" \
  "$work" >/dev/null

mkdir -p "$cache/target-release"
"${buildah[@]}" build --quiet --target agent-runtime -f Dockerfile \
  --build-arg ROOTFS=build --build-arg RUST_IMAGE=localhost/tradeplane-test/rust:host \
  --network none \
  -v /usr:/usr:ro -v /etc/alternatives:/etc/alternatives:ro \
  -v "$rustup_home:/root/.rustup:ro" -v "$cargo_home:/root/.cargo" \
  -v "$cache/target-release:/root/.cache/tradeplane/target-release" \
  -t localhost/tradeplane-test/agent-runtime:build-stage . >"$work/build.log" 2>&1 || {
  tail -n 30 "$work/build.log" >&2
  say "FAILED: the Dockerfile's build stage does not build"
  exit 1
}

container=$("${buildah[@]}" from localhost/tradeplane-test/agent-runtime:build-stage)
root=$("${buildah[@]}" mount "$container")
sums() { (cd "$1" && find . -mindepth 1 \( -type f -o -type d \) -printf '%M %p\n' | sort -k2 &&
  find . -type f -exec sha256sum {} + | sort -k2); }
sums "$root" >"$work/build-stage.files"
"${buildah[@]}" umount "$container" >/dev/null
"${buildah[@]}" rm "$container" >/dev/null
sums build/images/rootfs/agent-runtime >"$work/host.files"
if ! diff -u "$work/host.files" "$work/build-stage.files" >&2; then
  say "FAILED: the build stage's image differs from make image's tree (diff above)"
  exit 1
fi
say "build stage: the Dockerfile's ROOTFS=build path gives the same $(grep -c '^-' "$work/host.files") files, byte for byte"
