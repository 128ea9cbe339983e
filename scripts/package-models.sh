#!/usr/bin/env bash
# The Lambda layer of algo-server's models, for the arm64 `algo-server-lambda` function:
#   $PACKAGE_TARGET_DIR/lambda/algo-server-models/layer.zip
#     models/ggml-tiny.en-q8_0.bin           Whisper tiny.en, Q8_0 (from `make models`)
#     models/predict/<name>/<version>/...     the ONNX tabular models (from `make models`)
#     models/faces/retinaface-mnet025-int8.onnx  the face detector, 8-bit (from `make models`)
#     models/onnxruntime/libonnxruntime.so    ONNX Runtime for aarch64, out of PyPI's
#                                             onnxruntime wheel for manylinux_2_28_aarch64,
#                                             the version of models/onnxruntime/VERSION
#     models/onnxruntime/VERSION
# Lambda extracts a layer under /opt: the function finds them at /opt/models
# (ALGO_SERVER_MODELS_DIR=/opt/models, WHISPER_MODEL=/opt/models/ggml-tiny.en-q8_0.bin).
# Checks: the library is an AArch64 ELF exporting OrtGetApiBase and needing no GLIBC_x.y
# newer than MAX_GLIBC (2.34, provided.al2023). The zip is reproducible (sorted entries,
# fixed timestamps) and rewritten only when its contents change.
# Called by scripts/package.sh; runs alone too. Needs .venv (scripts/venv.sh) and models/.
# Prints one line "layer.zip<TAB>zip bytes<TAB>unzipped bytes<TAB>max GLIBC" on fd 3 when
# fd 3 is open (package.sh's table).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRIPT=package-models
STEP=start
MAX_GLIBC=${MAX_GLIBC:-2.34}
PACKAGE_TARGET_DIR=${PACKAGE_TARGET_DIR:-$HOME/.cache/aws-ml-blueprints/target-arm64}
LAYER_DIR="$PACKAGE_TARGET_DIR/lambda/algo-server-models"
DL="$ROOT/.cache/models-dl"
WHISPER_FILE=ggml-tiny.en-q8_0.bin
FACE_FILE=faces/retinaface-mnet025-int8.onnx  # algo_vision::retina::GRAPH_IN_MODELS_DIR
# The aarch64 wheel, pinned like every download of scripts/models.sh. The wheel is the
# CPython 3.11 one whatever python .venv has (the library inside is the same in each).
ORT_VERSION=1.31.1
ORT_WHEEL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl
ORT_WHEEL_SHA256=da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3

step() { STEP="$1"; echo "==> [$SCRIPT] $1"; }
say() { echo "    $*"; }
die() { echo "!! [$SCRIPT] FAILED at step '$STEP': $*" >&2; exit 1; }
on_err() {
  local rc=$?
  echo "!! [$SCRIPT] FAILED at step '$STEP' (exit $rc) running: $BASH_COMMAND" >&2
  exit "$rc"
}
trap on_err ERR

step "models from \`make models\`"
[[ -s models/$WHISPER_FILE ]] || die "models/$WHISPER_FILE missing: run \`make models\`"
ls models/predict/*/*/model.onnx >/dev/null 2>&1 || die "no models/predict/<name>/<version>/model.onnx: run \`make models\`"
[[ -s models/$FACE_FILE ]] || die "models/$FACE_FILE missing: run \`make models\`"
version=$(cat models/onnxruntime/VERSION 2>/dev/null) || die "models/onnxruntime/VERSION missing: run \`make models\`"
[[ "$version" == "$ORT_VERSION" ]] \
  || die "models/onnxruntime/VERSION is $version but this script pins the aarch64 wheel of $ORT_VERSION: set ORT_VERSION, ORT_WHEEL and ORT_WHEEL_SHA256 here to $version's (sha256 from https://pypi.org/project/onnxruntime/$version/#files)"
say "$WHISPER_FILE, $(find models/predict -name model.onnx | wc -l) ONNX models, ONNX Runtime $version"

step "onnxruntime $ORT_VERSION wheel for manylinux_2_28_aarch64 (PyPI, into .cache/models-dl)"
[[ -x .venv/bin/pip ]] || scripts/venv.sh
mkdir -p "$DL"
if [[ -f "$DL/$ORT_WHEEL" && "$(sha256sum "$DL/$ORT_WHEEL" | cut -d' ' -f1)" == "$ORT_WHEEL_SHA256" ]]; then
  say "cached: $DL/$ORT_WHEEL"
else
  rm -f "$DL/$ORT_WHEEL"
  .venv/bin/pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
    --platform manylinux_2_28_aarch64 --python-version 3.11 --implementation cp --abi cp311 \
    -d "$DL" "onnxruntime==$ORT_VERSION" || die "pip download of the onnxruntime $ORT_VERSION aarch64 wheel failed"
  [[ -f "$DL/$ORT_WHEEL" ]] || die "pip download did not produce $DL/$ORT_WHEEL"
  got=$(sha256sum "$DL/$ORT_WHEEL" | cut -d' ' -f1)
  if [[ "$got" != "$ORT_WHEEL_SHA256" ]]; then
    rm -f "$DL/$ORT_WHEEL"
    die "$ORT_WHEEL has sha256 $got, expected $ORT_WHEEL_SHA256"
  fi
  say "downloaded $ORT_WHEEL ($(stat -c %s "$DL/$ORT_WHEEL") bytes, sha256 ok)"
fi

step "layer.zip (deterministic) and its checks"
mkdir -p "$LAYER_DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$ROOT/.venv/bin/python" - "$ROOT/models" "$DL/$ORT_WHEEL" "$ORT_VERSION" "$WHISPER_FILE" "$FACE_FILE" "$work" <<'PY'
import os, sys, zipfile
models, wheel, version, whisper, face, work = sys.argv[1:]
lib_member = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as w:
    data = w.read(lib_member)
lib = os.path.join(work, "libonnxruntime.so")
with open(lib, "wb") as f:
    f.write(data)
if data[:4] != b"\x7fELF" or int.from_bytes(data[18:20], "little") != 183:
    sys.exit(f"{wheel}:{lib_member} is not an AArch64 ELF")
# (name in the zip, bytes or a path, mode)
entries = [(f"models/{whisper}", os.path.join(models, whisper), 0o644),
           (f"models/{face}", os.path.join(models, face), 0o644),
           ("models/onnxruntime/VERSION", (version + "\n").encode(), 0o644),
           ("models/onnxruntime/libonnxruntime.so", data, 0o755)]
predict = os.path.join(models, "predict")
for dirpath, dirnames, filenames in os.walk(predict):
    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    for name in sorted(filenames):
        if name.startswith("."):
            continue  # .stamp of scripts/models.sh
        path = os.path.join(dirpath, name)
        entries.append(("models/" + os.path.relpath(path, models), path, 0o644))
entries.sort(key=lambda e: e[0])
out = os.path.join(work, "layer.zip")
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    for name, src, mode in entries:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        if isinstance(src, bytes):
            z.writestr(info, src)
        else:
            with open(src, "rb") as f, z.open(info, "w") as dst:
                while chunk := f.read(1 << 20):
                    dst.write(chunk)
with zipfile.ZipFile(out) as z:
    unzipped = sum(i.file_size for i in z.infolist())
    names = z.namelist()
with open(os.path.join(work, "sizes"), "w") as f:
    f.write(f"{os.path.getsize(out)}\t{unzipped}\t{len(names)}\n")
PY
glibc=$(objdump -T "$work/libonnxruntime.so" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[[ -n "$glibc" ]] || die "objdump -T found no GLIBC_ versions in libonnxruntime.so"
if [[ "$(printf '%s\n%s\n' "$glibc" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]]; then
  die "libonnxruntime.so (aarch64) needs GLIBC_$glibc > $MAX_GLIBC"
fi
objdump -T "$work/libonnxruntime.so" | grep -qw OrtGetApiBase || die "libonnxruntime.so exports no OrtGetApiBase"
needed=$(objdump -p "$work/libonnxruntime.so" | awk '/NEEDED/ {print $2}' | paste -sd' ')
read -r zip_bytes unzipped_bytes count <"$work/sizes"
if cmp -s "$work/layer.zip" "$LAYER_DIR/layer.zip"; then
  say "unchanged: $LAYER_DIR/layer.zip"
else
  mv "$work/layer.zip" "$LAYER_DIR/layer.zip"
  say "wrote $LAYER_DIR/layer.zip"
fi
say "$count files, zip $zip_bytes bytes, unzipped $unzipped_bytes bytes"
say "libonnxruntime.so: AArch64, max GLIBC_$glibc (<= $MAX_GLIBC), needs: $needed"
if { true >&3; } 2>/dev/null; then
  printf 'layer.zip\t%s\t%s\t%s\n' "$zip_bytes" "$unzipped_bytes" "$glibc" >&3
fi
