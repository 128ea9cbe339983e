#!/usr/bin/env bash
# Body of `make demo` (after deps, venv, models and fixtures): see scripts/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/demo.py
