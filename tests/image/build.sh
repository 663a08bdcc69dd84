#!/usr/bin/env bash
# `make image`: both images as OCI archives, built here without a registry or a Docker engine.
#
#   build/images/agent-runtime.oci.tar   localhost/tradeplane/agent-runtime:<version>
#   build/images/operator.oci.tar        localhost/tradeplane/operator:<version>
#
# rootfs.sh builds the release binaries and lays out each image's tree in build/images/rootfs;
# buildah (Debian's package, installed when missing) then builds the Dockerfile's targets with
# ROOTFS=prebuilt, which copies that tree into `FROM scratch` and never pulls anything. Its
# storage is a throwaway folder (vfs driver: no overlay mounts to leave behind), removed on
# exit; the archives are the only output. Layer times and the image's creation time are the
# commit's time, so the same binaries give the same digest.
#
# Prints one line per image: name, manifest digest, archive size and unpacked size.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/build/images
cd "$repo"

if ! command -v buildah >/dev/null 2>&1; then
  echo "image: installing buildah (Debian's package)" >&2
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "image: buildah is missing and cannot be installed here (needs root and apt-get)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >&2
fi

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
# Outside a git checkout (an unpacked tarball) the revision is unknown and the time is
# SOURCE_DATE_EPOCH, or 0.
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain)" ]; then
  revision=$revision-dirty
fi
created=$(git log -1 --format=%ct 2>/dev/null || echo "${SOURCE_DATE_EPOCH:-0}")
# The source label: TRADEPLANE_IMAGE_SOURCE, else origin when it is a public URL (a clone of a
# local folder has a path there), else the Dockerfile's default.
source=${TRADEPLANE_IMAGE_SOURCE:-$(git config --get remote.origin.url || true)}
case $source in https://*) ;; *) source='' ;; esac

mkdir -p "$out"
tests/image/rootfs.sh "$out/rootfs"

storage=$(mktemp -d "${TMPDIR:-/tmp}/tradeplane-buildah.XXXXXX")
trap 'rm -rf "$storage"' EXIT
buildah=(buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs)

for target in agent-runtime operator; do
  tag=localhost/tradeplane/$target:$version
  archive=$out/$target.oci.tar
  "${buildah[@]}" build --quiet --target "$target" -f Dockerfile \
    --build-arg ROOTFS=prebuilt --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" ${source:+--build-arg SOURCE="$source"} \
    --timestamp "$created" --identity-label=false \
    -t "$tag" . >/dev/null
  rm -f "$archive"
  "${buildah[@]}" push --quiet --digestfile "$storage/$target.digest" \
    "$tag" "oci-archive:$archive:$tag"
  printf '%-14s %-44s %s  archive %s, unpacked %s\n' "$target" "$tag" \
    "$(cat "$storage/$target.digest")" \
    "$(du -h --apparent-size "$archive" | cut -f1)" \
    "$(du -sh --apparent-size "$out/rootfs/$target" | cut -f1)"
done
