# The two commands a user needs: `make demo` (the whole job on local defaults) and
# `make test` (every test). Each does its own set-up.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/aws-ml-blueprints/target
export AWS_EC2_METADATA_DISABLED := true
CARGO ?= cargo

.PHONY: help venv models fixtures test lint fmt clean

help:
	@echo "make test    set up .venv, models and fixtures, start moto, run every test"
	@echo "make lint    cargo fmt --check and clippy -D warnings"

venv:
	@scripts/venv.sh

models:
	@scripts/models.sh

fixtures:
	@scripts/fixtures.sh

test: venv
	@scripts/with-moto.sh $(CARGO) test --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf .venv .venv-models models demo-out fixtures/generated
