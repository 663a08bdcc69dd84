# The verbs of the project. Everything a fresh machine needs is installed by these targets;
# caches (control-plane binaries, cluster state) live under $(TRADEPLANE_CACHE), outside the
# repository.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
export TRADEPLANE_CACHE ?= $(HOME)/.cache/tradeplane
STATE ?= $(TRADEPLANE_CACHE)/clusters/default

.PHONY: demo test cluster-build cluster-up cluster-down lint crds argocd-cm bench image plugin ui-vendor

## demo: start a local control plane, show the product working, stop everything again
demo:
	tests/demo.sh

## test: build what is missing, start a private control plane, run every test, stop it
test:
	tests/run.sh

## cluster-build: build (once) the pinned control-plane binaries into the cache
cluster-build:
	tests/cluster/build.sh

## cluster-up / cluster-down: a long-lived local cluster in $(STATE) for exploring by hand
cluster-up:
	tests/cluster/up.sh "$(STATE)"
	@echo "export KUBECONFIG=$(STATE)/kubeconfig PATH=$$(tests/cluster/build.sh 2>/dev/null):\$$PATH"

cluster-down:
	tests/cluster/down.sh "$(STATE)"

## ui-vendor: fetch the dashboard's charting library (pinned version and sha512) into the cache;
## kubectl-tradeplane's build.rs embeds it from there (docs/dashboard.md)
ui-vendor:
	scripts/ui-vendor.sh >/dev/null

## lint: formatting and clippy, as the tests check them
lint: ui-vendor
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## crds: regenerate crds/ from the API types in operator/api (the tradeplane-api crate), and the chart's copy of them
crds:
	cargo run -q -p tradeplane-operator --bin crdgen -- crds
	cp crds/*.yaml charts/tradeplane/files/crds/

## argocd-cm: regenerate examples/argocd/argocd-cm.yaml from the Lua customizations beside it
argocd-cm:
	UPDATE_ARGOCD_CM=1 cargo test -q -p e2e --test argocd_lua argocd_cm_is_generated_from_the_lua_files

## bench: benchmarks that print figures (not asserted): the runtime's pipeline, journal,
## worker and backups (TRADEPLANE_BENCH_BACKUP_ROWS=10000,100000,1000000 by default), the
## `agent-runtime backtest` bars/s and peak RSS at TRADEPLANE_BENCH_BACKTEST_BARS=50000,1000000
## and its ratio against backtesting.py (installed into a venv under $(TRADEPLANE_CACHE)), then the
## operator's reconcile throughput, no-op writes and memory on a private control plane
## (TRADEPLANE_BENCH_SIZES=100,1000,5000 by default; 1000 took 25 minutes on a busy 2-core machine,
## 5000 takes hours there; docs/scale.md), then
## `kubectl tradeplane status` end to end over the service proxy at 1,000,000 journal rows, then
## `kubectl tradeplane dashboard` in headless Chromium (overview of 100 strategies, a strategy page
## at 100,000 journal rows, bytes on first load, the console's RSS), then failover
## after SIGKILL and SIGTERM, duplicates and Lease/status API requests per second at the
## default Lease and at 15 s (TRADEPLANE_BENCH_KILLS=100 by default, about a quarter of an
## hour), then 10/25/50 runtime processes on one API server: requests/s by verb, the runtimes'
## flow, kube-apiserver CPU, extrapolated to 1,000 and 10,000 (TRADEPLANE_BENCH_FLEET), then what
## a shadow revision costs: API requests/s by user and verb from the audit log, its runtime's RSS,
## spec change → verdict at a 1-s cycle (TRADEPLANE_BENCH_SHADOW_CHANGES=3), then on a real node:
## start-up, apply → first order, RSS, failover over 20 (tests/node/bench.sh)
bench: ui-vendor
	cargo bench -p tradeplane-agent-runtime
	# The operator with the allocator settings the chart gives it (values.yaml glibcTunables).
	GLIBC_TUNABLES="$$(sed -n 's/^glibcTunables: "\(.*\)"$$/\1/p' charts/tradeplane/values.yaml)" \
	  cargo bench -p tradeplane-operator --bench reconcile
	cargo build --release -p kubectl-tradeplane
	PATH="$$(tests/cluster/build.sh):$$PATH" TRADEPLANE_PLUGIN_BIN=$${CARGO_TARGET_DIR:-target}/release/kubectl-tradeplane \
	  cargo bench -p e2e --bench plugin_status
	tests/browser/install.sh >/dev/null
	PATH="$$(tests/cluster/build.sh):$$PATH" TRADEPLANE_PLUGIN_BIN=$${CARGO_TARGET_DIR:-target}/release/kubectl-tradeplane \
	  cargo bench -p e2e --bench dashboard
	PATH="$$(tests/cluster/build.sh):$$PATH" cargo bench -p e2e --bench failover
	PATH="$$(tests/cluster/build.sh):$$PATH" cargo bench -p e2e --bench fleet_runtime
	cargo build --release -p tradeplane-agent-runtime --bin agent-runtime
	PATH="$$(tests/cluster/build.sh):$$PATH" TRADEPLANE_RUNTIME_BIN=$${CARGO_TARGET_DIR:-target}/release/agent-runtime \
	  cargo bench -p e2e --bench shadow
	tests/node/bench.sh

## image: both images (Dockerfile targets operator, agent-runtime) as OCI archives in
## build/images, built with buildah without a registry; prints each digest and size
image:
	tests/image/build.sh

# The kubectl plugin: the release binary, packed as build/plugin/kubectl-tradeplane-<version>-<target>.tar.gz
# with its sha256 beside it (the values krew/tradeplane.yaml's placeholders take).
plugin: ui-vendor
	cargo build --release -p kubectl-tradeplane
	mkdir -p build/plugin
	version=$$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="kubectl-tradeplane"))'); \
	target=$$(rustc -vV | sed -n 's/^host: //p'); \
	archive=build/plugin/kubectl-tradeplane-$$version-$$target.tar.gz; \
	cp $${CARGO_TARGET_DIR:-target}/release/kubectl-tradeplane build/plugin/; \
	tar -czf $$archive -C build/plugin kubectl-tradeplane; \
	sha256sum $$archive | sed 's| .*/| |' > $$archive.sha256; \
	echo "wrote $$archive and $$archive.sha256"
