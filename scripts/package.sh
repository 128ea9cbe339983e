#!/usr/bin/env bash
# `make package`: every Lambda function of the workspace built for arm64 exactly as
# `sam build` builds it (`cargo lambda build --release --arm64 --bin X` at the workspace
# root, the workspace's release profile), as cargo-lambda's bootstrap.zip, then checked:
# one executable `bootstrap`, an AArch64 ELF, needing no GLIBC_x.y newer than
# Amazon Linux 2023's 2.34 (provided.al2023). Prints a table and writes it as TSV.
#
# Usage: scripts/package.sh [BIN...]   (default: every `Binary:` of every template.yaml)
# Environment:
#   PACKAGE_TARGET_DIR  cargo's target dir for these builds (default
#                       ~/.cache/aws-ml-blueprints/target-arm64): kept apart from the
#                       debug target dir of `make test`, so a long release build never
#                       holds that one's lock. `sam build` reuses it when run with
#                       CARGO_TARGET_DIR set to the same path.
#   MAX_GLIBC           highest GLIBC symbol version allowed (default 2.34, al2023's).
#
# With algo-server-lambda among the functions (the default), also the Lambda layer of its
# models (scripts/package-models.sh): lambda/algo-server-models/layer.zip, a row of the
# table, and the check that function + layer stay under Lambda's 250 MB unzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRIPT=package
STEP=start
TARGET_TRIPLE=aarch64-unknown-linux-gnu
MAX_GLIBC=${MAX_GLIBC:-2.34}
PACKAGE_TARGET_DIR=${PACKAGE_TARGET_DIR:-$HOME/.cache/aws-ml-blueprints/target-arm64}
# The function that runs algo-server in Lambda; its models come as a layer.
SERVER_FUNCTION=${SERVER_FUNCTION:-algo-server-lambda}
# Lambda's limit on a function's code and its layers together, unzipped (250 MB).
LAMBDA_MAX_UNZIPPED=262144000

step() { STEP="$1"; echo "==> [$SCRIPT] $1"; }
say() { echo "    $*"; }
die() { echo "!! [$SCRIPT] FAILED at step '$STEP': $*" >&2; exit 1; }
on_err() {
  local rc=$?
  echo "!! [$SCRIPT] FAILED at step '$STEP' (exit $rc) running: $BASH_COMMAND" >&2
  exit "$rc"
}
trap on_err ERR

began=$(date +%s)

# Every function SAM builds: the `Binary:` of each rust-cargolambda function.
if [[ $# -gt 0 ]]; then
  functions=("$@")
else
  mapfile -t functions < <(sed -n 's/^ *Binary: *\([A-Za-z0-9_-]*\).*/\1/p' blueprints/*/template.yaml crates/*/template.yaml 2>/dev/null | sort -u)
fi
[[ ${#functions[@]} -gt 0 ]] || die "no 'Binary:' found in blueprints/*/template.yaml"

step "apt packages (binutils for objdump, and the workspace's build packages)"
scripts/apt-deps.sh binutils
command -v objdump >/dev/null || die "objdump not found (apt-get install binutils)"

step "python venv .venv with cargo-lambda and its zig (scripts/venv.sh)"
scripts/venv.sh
export PATH="$ROOT/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null || die ".venv/bin/cargo-lambda missing after scripts/venv.sh"
zig_version=$("$ROOT/.venv/bin/python" -m ziglang version 2>/dev/null) \
  || die "zig (PyPI ziglang, a dependency of cargo-lambda) is not importable from .venv"
say "$(cargo lambda --version), zig $zig_version (from .venv, found by cargo-lambda on PATH)"

step "rust target $TARGET_TRIPLE"
command -v rustup >/dev/null || die "rustup not found: install Rust with rustup (https://rustup.rs)"
if rustup target list --installed | grep -qx "$TARGET_TRIPLE"; then
  say "already installed for $(rustc --version)"
else
  rustup target add "$TARGET_TRIPLE" || die "rustup target add $TARGET_TRIPLE failed"
fi

lambda_dir="$PACKAGE_TARGET_DIR/lambda"
log="$PACKAGE_TARGET_DIR/package-build.log"
mkdir -p "$PACKAGE_TARGET_DIR"
bins=()
for f in "${functions[@]}"; do bins+=(--bin "$f"); done
build_cmd=(cargo lambda build --release --arm64 --output-format zip --timings "${bins[@]}")
step "build ${functions[*]} (one invocation: dependencies compiled once)"
say "CARGO_TARGET_DIR=$PACKAGE_TARGET_DIR ${build_cmd[*]}"
say "log: $log (a first build took ~13 min on 2 shared cores: fat LTO per binary)"
# `sam build` runs the same command with one --bin per function, at the workspace
# root; cargo resolves features over every workspace member either way, so the
# binaries are the same.
build_start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/build-start"
if ! CARGO_TARGET_DIR="$PACKAGE_TARGET_DIR" "${build_cmd[@]}" 2>&1 | tee "$log"; then
  die "cargo lambda build failed; see $log"
fi
build_seconds=$(( $(date +%s) - build_start ))
say "built in ${build_seconds} s"
# cargo's timing report of this build (names sort by time), for each binary's own time;
# the reports of older builds go, but for the last ten.
timings=$(find "$PACKAGE_TARGET_DIR/cargo-timings" -name 'cargo-timing-*.html' -newer "$work/build-start" 2>/dev/null | sort | tail -1)
find "$PACKAGE_TARGET_DIR/cargo-timings" -name 'cargo-timing-*.html' 2>/dev/null | sort | head -n -10 | xargs -r rm -f

step "inspect each bootstrap.zip (zip layout, ELF machine, GLIBC symbol versions)"
summary="$lambda_dir/package-summary.tsv"
# One line per function: name, zip bytes, unzipped bytes, own build seconds or "-".
"$ROOT/.venv/bin/python" - "$lambda_dir" "$work" "$timings" "${functions[@]}" >"$work/sizes.tsv" <<'PY'
import json, os, re, stat, sys, zipfile
lambda_dir, work, timings, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
own = {}
if timings:
    html = open(timings, encoding="utf-8").read()
    at = html.find("UNIT_DATA = ")
    if at >= 0:
        units, _ = json.JSONDecoder().raw_decode(html[at + len("UNIT_DATA = "):])
        for unit in units:
            m = re.match(r'\s*(\S+) "bin"', unit.get("target", ""))
            if m:
                own[m.group(1)] = own.get(m.group(1), 0) + unit.get("duration", 0)
for name in names:
    path = os.path.join(lambda_dir, name, "bootstrap.zip")
    if not os.path.isfile(path):
        sys.exit(f"{path} was not produced")
    with zipfile.ZipFile(path) as z:
        entries = z.infolist()
        if [e.filename for e in entries] != ["bootstrap"]:
            sys.exit(f"{path} holds {[e.filename for e in entries]}, not just 'bootstrap'")
        mode = entries[0].external_attr >> 16
        if not mode & stat.S_IXUSR:
            sys.exit(f"{path}: bootstrap is not executable in the zip (mode {oct(mode)}): Lambda could not start it")
        out = os.path.join(work, name)
        os.makedirs(out)
        z.extract(entries[0], out)
        with open(os.path.join(out, "bootstrap"), "rb") as f:
            head = f.read(20)
        if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != 183:
            sys.exit(f"{path}: bootstrap is not an AArch64 ELF executable")
        # Units cargo found fresh are listed with duration 0: "up to date".
        seconds = f"{own[name]:.0f}" if own.get(name, 0) >= 0.5 else "-"
        print(f"{name}\t{os.path.getsize(path)}\t{entries[0].file_size}\t{seconds}")
PY

# algo-server's models as a Lambda layer, for the algo-server-lambda function.
layer_row=""
layer_note=""
if [[ $# -eq 0 || " ${functions[*]} " == *" $SERVER_FUNCTION "* ]]; then
  step "Lambda layer of $SERVER_FUNCTION's models (scripts/package-models.sh)"
  PACKAGE_TARGET_DIR="$PACKAGE_TARGET_DIR" MAX_GLIBC="$MAX_GLIBC" scripts/package-models.sh 3>"$work/layer.tsv"
  STEP="Lambda layer of $SERVER_FUNCTION's models"
  IFS=$'\t' read -r _ layer_zip layer_raw layer_glibc <"$work/layer.tsv"
  server_raw=$(awk -F'\t' -v f="$SERVER_FUNCTION" '$1 == f { print $3 }' "$work/sizes.tsv")
  if [[ -n "$server_raw" ]]; then
    total=$(( server_raw + layer_raw ))
    layer_note="$SERVER_FUNCTION unzipped + layer unzipped: $total bytes of Lambda's $LAMBDA_MAX_UNZIPPED (250 MB)"
    (( total < LAMBDA_MAX_UNZIPPED )) || die "$layer_note: too large for Lambda"
  fi
fi

mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; }
failed=()
{
  printf 'function\tzip_bytes\tunzipped_bytes\tmax_glibc\tbuild_s\n'
} >"$work/summary.tsv"
rows=()
while IFS=$'\t' read -r name zip_bytes raw_bytes own_s; do
  glibc=$(objdump -T "$work/$name/bootstrap" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  [[ -n "$glibc" ]] || die "objdump -T found no GLIBC_ symbol versions in $name's bootstrap"
  verdict=ok
  if [[ "$(printf '%s\n%s\n' "$glibc" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]]; then
    verdict="TOO NEW"
    failed+=("$name needs GLIBC_$glibc > $MAX_GLIBC")
  fi
  if [[ "$own_s" == "-" ]]; then build_col="up to date"; else build_col="${own_s} s"; fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$zip_bytes" "$raw_bytes" "$glibc" "$own_s" >>"$work/summary.tsv"
  rows+=("$(printf '| %-18s | %10s | %13s | %-14s | %-16s |' "$name" "$(mb "$zip_bytes")" "$(mb "$raw_bytes")" "GLIBC_$glibc $verdict" "$build_col")")
done <"$work/sizes.tsv"
if [[ -n "${layer_zip:-}" ]]; then
  printf '%s\t%s\t%s\t%s\t%s\n' "algo-server-models-layer" "$layer_zip" "$layer_raw" "$layer_glibc" "-" >>"$work/summary.tsv"
  layer_row="$(printf '| %-18s | %10s | %13s | %-14s | %-16s |' "layer: models" "$(mb "$layer_zip")" "$(mb "$layer_raw")" "GLIBC_$layer_glibc ok" "-")"
fi
cp "$work/summary.tsv" "$summary"

echo
echo "arm64 (aarch64-unknown-linux-gnu) packages in $lambda_dir/<function>/bootstrap.zip"
printf '| %-18s | %10s | %13s | %-14s | %-16s |\n' function "zip" "unzipped" "max GLIBC" "build (own)"
printf '|%s|%s|%s|%s|%s|\n' "--------------------" "------------" "---------------" "----------------" "------------------"
printf '%s\n' "${rows[@]}"
if [[ -n "$layer_row" ]]; then
  echo "$layer_row"
fi
echo
if [[ -n "$layer_row" ]]; then
  say "layer: $lambda_dir/algo-server-models/layer.zip (extracted under /opt: /opt/models/...; max GLIBC is libonnxruntime.so's)"
fi
if [[ -n "$layer_note" ]]; then
  say "$layer_note"
fi
say "build: ${build_seconds} s wall for the one cargo lambda invocation (shared dependencies included);"
say "'build (own)' is each binary's own compile + fat-LTO link from cargo's --timings${timings:+ ($timings)}"
say "max GLIBC allowed: $MAX_GLIBC (Amazon Linux 2023, provided.al2023); summary: $summary"
say "total: $(( $(date +%s) - began )) s"
if [[ ${#failed[@]} -gt 0 ]]; then
  STEP="glibc check"
  die "$(IFS=';'; echo "${failed[*]}")"
fi
