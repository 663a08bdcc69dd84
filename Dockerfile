# The Tradeplane images: `--target agent-runtime` and `--target operator`.
#
# Each final image is `FROM scratch` with one layer: the stripped release binary, the glibc
# libraries it links (ld-linux, libc, libm, libgcc_s) at their usual paths, and an empty /tmp.
# No shell, no package manager; it runs as the numeric UID 65532. The tree is laid out by
# tests/image/rootfs.sh, which both ways of building below run:
#
# * With a registry: `docker build --target agent-runtime .` (or buildah/podman). The `build`
#   stage compiles in a Rust image and runs rootfs.sh there. Buildah before 1.29 (Debian 12 has
#   1.28) ignores ARG defaults when it resolves a stage name: pass `--build-arg ROOTFS=build`.
# * Without one (`make image`, tests/image/build.sh): rootfs.sh runs on the host into
#   build/images/rootfs, and buildah builds with `--build-arg ROOTFS=prebuilt`, so the final
#   stages copy that folder instead. The `build` stage is then never evaluated and nothing is
#   pulled: buildah and BuildKit build only the stages the chosen target depends on.

ARG ROOTFS=build
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Only what the workspace needs to compile, so a local build/ or target/ never enters.
COPY Cargo.toml Cargo.lock ./
COPY operator operator
COPY agent-runtime agent-runtime
COPY tests tests
RUN tests/image/rootfs.sh /rootfs

FROM scratch AS rootfs-build
COPY --from=build /rootfs/ /

FROM scratch AS rootfs-prebuilt
COPY build/images/rootfs/ /

# The root filesystems of both images, from whichever stage ROOTFS names.
FROM rootfs-${ROOTFS} AS rootfs

FROM scratch AS agent-runtime
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/tradeplane/tradeplane
COPY --from=rootfs /agent-runtime/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/agent-runtime"]
LABEL org.opencontainers.image.title="agent-runtime" \
      org.opencontainers.image.description="The Tradeplane agent runtime: analysts, decision, risk, brokers and the journal" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

FROM scratch AS operator
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/tradeplane/tradeplane
COPY --from=rootfs /operator/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tradeplane-operator"]
LABEL org.opencontainers.image.title="tradeplane-operator" \
      org.opencontainers.image.description="The Tradeplane Kubernetes operator" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
