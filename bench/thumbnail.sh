#!/usr/bin/env bash
# Latency of algo-server's image algorithms over real HTTP on 127.0.0.1:
#   SmartThumbnail 300x300 JPEG of a 12 MP JPEG (fixtures/generated/12mp.jpg)
#   FaceDetection of a 1 MP JPEG (fixtures/images/group.jpg, 1024x820 = 0.84 MP)
# Prints median and min-max of RUNS calls (after 2 warm-ups), one call at a time.
#
#   bench/thumbnail.sh                      # release build (the default)
#   BENCH_PROFILE=dev RUNS=25 bench/thumbnail.sh
#   NO_BUILD=1 bench/thumbnail.sh           # use the binary already built
#
# Needs fixtures/generated/12mp.jpg: run scripts/fixtures.sh first.
# `cargo bench -p algo-vision --bench thumbnail` measures the same in-process, without HTTP.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aws-ml-blueprints/target}"
runs="${RUNS:-15}"
profile="${BENCH_PROFILE:-release}"
big=fixtures/generated/12mp.jpg
small=fixtures/images/group.jpg
for needed in "$big" "$small"; do
  [ -f "$needed" ] || { echo "error: $needed is missing: run scripts/fixtures.sh first" >&2; exit 1; }
done

if [ "$profile" = release ]; then
  [ -n "${NO_BUILD:-}" ] || cargo build --release -p algo-server --bin algo-server
  bin="$CARGO_TARGET_DIR/release/algo-server"
else
  [ -n "${NO_BUILD:-}" ] || cargo build -p algo-server --bin algo-server
  bin="$CARGO_TARGET_DIR/debug/algo-server"
fi

out=$(mktemp -d)
"$bin" --allow-anonymous --listen 127.0.0.1:0 >"$out/stdout" 2>"$out/stderr" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 100); do
  grep -q 'listening on' "$out/stdout" 2>/dev/null && break
  sleep 0.1
done
base=$(sed -n 's/^algo-server listening on //p' "$out/stdout")
[ -n "$base" ] || { echo "error: algo-server did not start:" >&2; cat "$out/stderr" >&2; exit 1; }

# measure LABEL URL FILE: prints median (min-max) of the server-side duration and of
# the whole HTTP call.
measure() {
  local label=$1 url=$2 file=$3
  for _ in $(seq $((runs + 2))); do
    curl -s -o "$out/reply" -w '%{time_total}\n' -H 'Content-Type: application/octet-stream' \
      --data-binary @"$file" "$url" >>"$out/times.$label"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert "error" not in r, r; print(r["metadata"]["duration"])' \
      "$out/reply" >>"$out/durations.$label"
  done
  python3 - "$label" "$out/durations.$label" "$out/times.$label" <<'EOF'
import statistics, sys
label, *files = sys.argv[1:]
for name, path in zip(("algorithm", "HTTP call"), files):
    ms = sorted(float(line) * 1000 for line in open(path).read().split()[2:])
    print(f"{label:<44} {name:<10} median {statistics.median(ms):6.0f} ms  (min {ms[0]:.0f} - max {ms[-1]:.0f}, {len(ms)} runs)")
EOF
}

echo "algo-server ($profile) on $(nproc) CPUs, $base"
measure "SmartThumbnail 300x300 of 12 MP JPEG" "$base/v1/algo/blueprints/SmartThumbnail?width=300&height=300" "$big"
measure "FaceDetection of 1024x820 JPEG" "$base/v1/algo/blueprints/FaceDetection" "$small"
