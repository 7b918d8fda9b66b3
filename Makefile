# HighGoPress: the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps build run test test-unit infra-up infra-down k8s-up k8s-down bench clean

help:
	@echo "make run     - start Redis, Kafka, Prometheus, Jaeger and the services locally (Ctrl-C stops all)"
	@echo "make test    - install what is missing, then run every test (unit, integration, chart, autoscaler)"
	@echo "make build   - generate protobuf code and compile TypeScript into dist/"
	@echo "make bench   - the five-level load test against a locally started system"

# npm ci only when package-lock.json changed since the last install (npm's download cache lives in ~/.npm).
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

build: deps
	npm run build

run: build
	scripts/run.sh

test: build
	scripts/test.sh

test-unit: build
	node --test dist/test/unit/

infra-up:
	scripts/infra.sh start

infra-down:
	scripts/infra.sh stop

k8s-up:
	scripts/k8s/up.sh

k8s-down:
	scripts/k8s/down.sh

bench: build
	scripts/bench.sh

clean:
	rm -rf dist services/lib/gen
