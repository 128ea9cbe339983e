#!/usr/bin/env bash
# `make soak`: the release algo-server on 127.0.0.1 for SOAK_SECONDS (default 300) under
# a mixed load: good calls of every algorithm from wrk (Debian package), hostile clients
# from scripts/soak.py. Prints calls, outcomes by kind, p50/p99, max RSS; exits non-zero
# unless the run passed (see scripts/soak.py).
#
#   SOAK_SECONDS     length of the run (default 300)
#   SOAK_RSS_MB      RSS bound of the server (default 1536)
#   SOAK_TARGET_DIR  release build dir (default ~/.cache/aws-ml-blueprints/target-release;
#                    a first fat-LTO build takes many minutes on 2 cores, then it is reused)
#   SOAK_OUT         summary JSON (default soak-out/summary.json, ignored by git)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RELEASE_DIR="${SOAK_TARGET_DIR:-$HOME/.cache/aws-ml-blueprints/target-release}"
OUT="${SOAK_OUT:-$ROOT/soak-out/summary.json}"

command -v wrk >/dev/null || scripts/apt-deps.sh wrk
for needed in models/ggml-tiny.en.bin models/predict fixtures/generated/speech.mp4; do
  [ -e "$needed" ] || { echo "error: $needed is missing: run make models fixtures" >&2; exit 1; }
done

echo "==> [soak] release build of algo-server in $RELEASE_DIR"
CARGO_TARGET_DIR="$RELEASE_DIR" cargo build --release -p algo-server

PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3
mkdir -p "$(dirname "$OUT")"
exec "$PY" scripts/soak.py --server "$RELEASE_DIR/release/algo-server" \
  --seconds "${SOAK_SECONDS:-300}" --out "$OUT"
