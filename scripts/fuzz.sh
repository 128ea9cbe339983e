#!/usr/bin/env bash
# `make fuzz FUZZ_SECONDS=N`: runs each cargo-fuzz target of fuzz/ for N seconds, one
# after another (one fuzzing process at a time: -jobs=1 -workers=1), and prints each
# target's executions and any crash. Installs what it needs on a fresh clone: the nightly
# toolchain and cargo-fuzz. Builds in a target dir of its own, so it never holds the lock
# of the shared debug target dir.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   targets to run, space separated (default: all of fuzz/Cargo.toml)
#   FUZZ_TARGET_DIR  build dir (default ~/.cache/aws-ml-blueprints/target-fuzz)
#   FUZZ_OUT       folder for the logs and the summary (default fuzz/out, ignored by git)
#
# The working corpus grows in fuzz/corpus/<target> (ignored), seeded from the committed
# fuzz/seeds/<target>. Crash inputs land in fuzz/artifacts/<target>/: keep each one as a
# regression test (crates/<crate>/tests/fuzz_regressions/) once it is fixed. The fuzzers
# run without network access (a fresh network namespace) where `unshare` allows it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/aws-ml-blueprints/target-fuzz}"
OUT="${FUZZ_OUT:-$FUZZ/out}"
TARGETS="${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' "$FUZZ/Cargo.toml" | grep -v '^algo-fuzz$' | tr '\n' ' ')}"

echo "==> [fuzz] toolchain: nightly and cargo-fuzz"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

echo "==> [fuzz] building every target (address sanitizer; overflow checks and debug assertions"
echo "    in the project's crates, dependencies as in production: fuzz/Cargo.toml) in $TARGET_DIR"
(cd "$FUZZ" && CARGO_TARGET_DIR="$TARGET_DIR" cargo +nightly fuzz build -O)
BIN_DIR="$TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

isolate=()
if command -v unshare >/dev/null && unshare --net true 2>/dev/null; then
  isolate=(unshare --net)
elif command -v unshare >/dev/null && unshare --user --map-root-user --net true 2>/dev/null; then
  isolate=(unshare --user --map-root-user --net)
fi

mkdir -p "$OUT"
summary="$OUT/summary.tsv"
printf 'target\tseconds\texecs\texecs_per_s\tcorpus_units\tpeak_rss_mb\tresult\n' >"$summary"
failed=()
for target in $TARGETS; do
  corpus="$FUZZ/corpus/$target"
  artifacts="$FUZZ/artifacts/$target"
  log_dir="$OUT/$target"
  mkdir -p "$corpus" "$artifacts" "$log_dir"
  rm -f "$log_dir"/fuzz-*.log
  echo "==> [fuzz] $target for $SECONDS_EACH s (corpus fuzz/corpus/$target, seeds fuzz/seeds/$target)"
  rc=0
  # -jobs=1 runs one fuzzing process, logging to fuzz-0.log in its working directory.
  # -detect_leaks=0: LeakSanitizer reports the thread-locals of jpeg-decoder's worker
  # threads (a few dozen bytes, std's own) as leaks and would stop the run.
  (cd "$log_dir" && "${isolate[@]}" "$BIN_DIR/$target" "$corpus" "$FUZZ/seeds/$target" \
      -jobs=1 -workers=1 -max_total_time="$SECONDS_EACH" -timeout=30 \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -detect_leaks=0 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" >"$log_dir/driver.log" 2>&1) || rc=$?
  log="$log_dir/fuzz-0.log"
  [ -f "$log" ] || log="$log_dir/driver.log"
  stat_of() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  execs="$(stat_of number_of_executed_units)"
  per_s="$(stat_of average_exec_per_sec)"
  units="$(find "$corpus" -type f | wc -l)"
  rss="$(stat_of peak_rss_mb)"
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="CRASH (exit $rc)"
    failed+=("$target")
    echo "!! [fuzz] $target failed; the end of its log ($log):"
    grep -E -A30 "panicked at|ERROR: (libFuzzer|AddressSanitizer)|==[0-9]+==ERROR" "$log" | head -60 || tail -40 "$log"
    grep -E "Test unit written to|artifact_prefix" "$log" | tail -3 || true
  fi
  echo "    $target: ${execs:-?} execs (${per_s:-?}/s) in $SECONDS_EACH s, corpus $units, peak RSS ${rss:-?} MB: $result"
  # Panics a target contained as the server does (media_decode: codec panics become
  # "corrupt media"), each location once: dependency bugs worth reporting upstream.
  if grep -q '^fuzz: panic at' "$log"; then
    echo "    contained panics (answered as errors, not crashes):"
    grep '^fuzz: panic at' "$log" | sort -u | sed 's/^fuzz: /      /'
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$SECONDS_EACH" "${execs:-?}" "${per_s:-?}" \
    "$units" "${rss:-?}" "$result" >>"$summary"
done

echo "==> [fuzz] summary ($summary)"
column -t -s $'\t' "$summary" 2>/dev/null || cat "$summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "!! [fuzz] crashes in: ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
