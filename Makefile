# HighGoPress: the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps build run test test-unit infra-up infra-down k8s-up k8s-down cluster-up cluster-down bench clean

help:
	@echo "make run     - start Redis, Kafka, Prometheus, Jaeger and the services locally (Ctrl-C stops all)"
	@echo "make test    - install what is missing, then run every test (unit, integration, chart, autoscaler, faults, end to end on a real node)"
	@echo "make build   - generate protobuf code and compile TypeScript into dist/"
	@echo "make bench   - the five-level load test against a locally started system"
	@echo "make cluster-up   - a real single-node Kubernetes here (no Docker): images built, chart installed"
	@echo "make cluster-down - stop it and undo its changes to the machine"

# Every Node command runs on the pinned Node 24 release (.node-version),
# fetched into the cache when the machine's own node is another major.
WITH_NODE := scripts/with-node.sh

# npm ci only when package-lock.json changed since the last install (npm's download cache lives in ~/.npm).
node_modules/.installed: package-lock.json .node-version
	$(WITH_NODE) npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

build: deps
	$(WITH_NODE) npm run build

run: build
	$(WITH_NODE) scripts/run.sh

test: build
	$(WITH_NODE) scripts/test.sh

test-unit: build
	$(WITH_NODE) node --test 'dist/test/unit/**/*.test.js'

infra-up:
	scripts/infra.sh start

infra-down:
	scripts/infra.sh stop

k8s-up:
	scripts/k8s/up.sh

k8s-down:
	scripts/k8s/down.sh

cluster-up:
	$(WITH_NODE) scripts/k8s/cluster-up.sh

cluster-down:
	scripts/k8s/down.sh

bench: build
	$(WITH_NODE) scripts/bench.sh

clean:
	rm -rf dist services/lib/gen
