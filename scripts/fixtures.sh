#!/usr/bin/env bash
# Test media, skipping what already exists:
#   fixtures/generated/ (gitignored): speech and silence clips (espeak-ng + ffmpeg), broken files,
#     a >= 60 s speech clip, a 12-megapixel JPEG for benchmarks
#   fixtures/images/ (committed): rebuilt only when missing or when make_images.py changed
#   fixtures/images/faces/ (committed): labelled face photos (make_labelled.py samples), and
#     fixtures/generated/faces/ (gitignored): crowd mosaics of them with their boxes
set -Eeuo pipefail
SCRIPT=fixtures
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GEN="$ROOT/fixtures/generated"
IMG="$ROOT/fixtures/images"
MAKE_IMAGES="$ROOT/scripts/models/make_images.py"
MAKE_LABELLED="$ROOT/scripts/models/make_labelled.py"
SKIMAGE_WHL=scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
SKIMAGE_SHA256=74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af
FACEAPI=@vladmandic/face-api@1.7.15
FACEAPI_TGZ=vladmandic-face-api-1.7.15.tgz
FACEAPI_SHA256=0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031

# Plain words that espeak-ng says clearly and Whisper tiny.en gets right.
SPEECH="Good morning everyone. This is a short test of the speech recognition system. Thank you for listening."
LONG=(
  "Good morning and welcome to the weekly team meeting."
  "Today we will talk about the new project and the plan for next month."
  "The first item on the list is the budget for the coming year."
  "We need to buy new computers for the office before the end of June."
  "The second item is the website, which is almost ready."
  "Please send your comments to the design team by Friday."
  "The third item is the summer party for all the staff."
  "It will be held in the park near the river on a Saturday afternoon."
  "There will be food, music and games for the children."
  "Finally, I want to thank everyone for their hard work this year."
  "Our customers are happy and our sales are growing every month."
  "Next week we will meet again on Monday morning."
  "Please bring your notes and your ideas for the new product."
  "Lunch will be served in the small room after the meeting."
  "If you have any questions, please ask them now."
  "Thank you all for coming, and have a good day."
)
MEDIA=(speech.txt speech.wav speech.mp3 speech.mp4 noaudio.mp4 silence.wav corrupt.mp4 truncated.mp4
  long.txt long.wav long.mp4 12mp.jpg)
IMAGES=(astronaut.jpg group.jpg wide.jpg faces.json)

# ff OUT ARGS...: ffmpeg into a temporary file, renamed when complete.
ff() {
  local out="$1" tmp
  tmp="$GEN/tmp.$(basename "$1")"
  shift
  ffmpeg -hide_banner -loglevel error -nostdin -y "$@" "$tmp"
  mv "$tmp" "$out"
}
duration() { ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$1"; }
all_there() {
  local dir="$1" f
  shift
  for f in "$@"; do [[ -s "$dir/$f" ]] || return 1; done
}

need_media_tools() {
  local missing=()
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
  step "check ffmpeg encoders"
  local enc
  enc="$(ffmpeg -hide_banner -encoders 2>/dev/null)"
  grep -q ' libx264 ' <<<"$enc" || die "this ffmpeg has no libx264 (H.264) encoder: cannot make the MP4 clips"
  grep -q ' aac ' <<<"$enc" || die "this ffmpeg has no aac encoder"
  grep -q ' libmp3lame ' <<<"$enc" || die "this ffmpeg has no libmp3lame encoder: cannot make speech.mp3"
}

# speak NAME TEXT: NAME.txt, NAME.wav (16 kHz mono s16) and NAME.mp4 (H.264 + AAC stereo 44.1 kHz).
speak() {
  local name="$1" text="$2" raw="$GEN/tmp.$1.espeak.wav"
  printf '%s\n' "$text" >"$GEN/$name.txt"
  espeak-ng -v en-us -s 140 -w "$raw" "$text"
  ff "$GEN/$name.wav" -i "$raw" -ar 16000 -ac 1 -c:a pcm_s16le
  ff "$GEN/$name.mp4" -f lavfi -i "color=c=navy:s=640x360:r=25:d=$(duration "$raw")" -i "$raw" \
    -c:v libx264 -preset veryfast -tune stillimage -pix_fmt yuv420p \
    -c:a aac -b:a 96k -ar 44100 -ac 2 -movflags +faststart
  if [[ "$name" == speech ]]; then
    ff "$GEN/speech.mp3" -i "$raw" -c:a libmp3lame -b:a 64k
    # No +faststart, so the moov box is at the end and cutting the file in half loses it.
    ff "$GEN/tmp.whole.mp4" -i "$GEN/speech.mp4" -c copy
    head -c "$(($(size_of "$GEN/tmp.whole.mp4") / 2))" "$GEN/tmp.whole.mp4" >"$GEN/truncated.mp4"
    rm -f "$GEN/tmp.whole.mp4"
  fi
  rm -f "$raw"
  say "$name: $(duration "$GEN/$name.wav") s of speech"
}

media() {
  local stamp="$GEN/.stamp" wanted
  wanted="$(sha "${BASH_SOURCE[0]}" "$MAKE_IMAGES")"
  if all_there "$GEN" "${MEDIA[@]}" && [[ "$(cat "$stamp" 2>/dev/null)" == "$wanted" ]]; then
    say "fixtures/generated up to date (${#MEDIA[@]} files)"
    return
  fi
  need_media_tools
  step "speech clips with espeak-ng + ffmpeg into fixtures/generated"
  rm -rf "$GEN"
  mkdir -p "$GEN"
  speak speech "$SPEECH"
  speak long "${LONG[*]}"
  local long_s
  long_s="$(duration "$GEN/long.wav")"
  [[ "${long_s%.*}" -ge 60 ]] || die "long.wav is only $long_s s; add sentences to LONG"
  step "noaudio.mp4, silence.wav, corrupt.mp4"
  ff "$GEN/noaudio.mp4" -f lavfi -i color=c=darkgreen:s=640x360:r=25:d=3 \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -movflags +faststart
  ff "$GEN/silence.wav" -f lavfi -i anullsrc=r=16000:cl=mono -t 5 -c:a pcm_s16le
  # 64 KiB of fixed pseudo-random bytes: no container signature at all.
  python3 -c 'import random,sys; random.seed(7); sys.stdout.buffer.write(random.randbytes(65536))' \
    >"$GEN/corrupt.mp4"
  step "12-megapixel JPEG for benchmarks"
  ensure_venv
  "$PY" "$MAKE_IMAGES" bench "$IMG/astronaut.jpg" "$GEN/12mp.jpg"
  echo "$wanted" >"$stamp"
  (cd "$GEN" && ls -l "${MEDIA[@]}" | awk '{printf "    %-14s %10s bytes\n", $9, $5}')
}

fetch_faceapi() {
  step "download $FACEAPI (npm) into .cache/models-dl"
  mkdir -p "$DL"
  if ! [[ -f "$DL/$FACEAPI_TGZ" && "$(sha "$DL/$FACEAPI_TGZ")" == "$FACEAPI_SHA256" ]]; then
    command -v npm >/dev/null || die "npm not found (needed once, to fetch $FACEAPI)"
    rm -f "$DL/$FACEAPI_TGZ"
    (cd "$DL" && npm pack --silent "$FACEAPI" >/dev/null) || die "npm pack $FACEAPI failed"
    [[ "$(sha "$DL/$FACEAPI_TGZ")" == "$FACEAPI_SHA256" ]] || die "$FACEAPI_TGZ has an unexpected sha256"
  fi
}

# Labelled face photos (committed; rebuilt only when missing) and the crowd mosaics made
# of them (generated; rebuilt when make_labelled.py or the labels change).
labelled() {
  local faces="$IMG/faces" out="$GEN/faces" stamp wanted
  if ! all_there "$faces" sample{1..6}.jpg labels.json; then
    ensure_venv
    fetch_faceapi
    step "labelled face photos into fixtures/images/faces"
    "$PY" "$MAKE_LABELLED" samples "$DL/$FACEAPI_TGZ" "$faces"
  fi
  stamp="$out/.stamp"
  wanted="$(sha "$MAKE_LABELLED" "$faces/labels.json")"
  if all_there "$out" mosaic-4x3.jpg mosaic-6x4.jpg labels.json && [[ "$(cat "$stamp" 2>/dev/null)" == "$wanted" ]]; then
    say "fixtures/generated/faces up to date"
    return
  fi
  ensure_venv
  step "crowd mosaics of the labelled photos into fixtures/generated/faces"
  "$PY" "$MAKE_LABELLED" mosaics "$faces" "$out"
  echo "$wanted" >"$stamp"
}

# Committed pictures: rebuilt only when one is missing or make_images.py changed.
images() {
  local stamp="$IMG/.make_images.sha256" wanted tmp
  wanted="$(sha "$MAKE_IMAGES")"
  if all_there "$IMG" "${IMAGES[@]}" && [[ "$(cat "$stamp" 2>/dev/null)" == "$wanted" ]]; then
    say "fixtures/images up to date (${IMAGES[*]})"
    return
  fi
  ensure_venv
  fetch_pypi "$SKIMAGE_WHL" "$SKIMAGE_SHA256" --only-binary :all: --platform manylinux_2_28_x86_64 \
    --python-version 3.11 --implementation cp --abi cp311 scikit-image==0.26.0
  fetch_faceapi
  step "build fixtures/images with make_images.py"
  tmp="$(mktemp -d)"
  "$PY" - "$DL/$SKIMAGE_WHL" "$DL/$FACEAPI_TGZ" "$tmp" <<'EOF'
import sys, tarfile, zipfile
whl, tgz, out = sys.argv[1:]
zipfile.ZipFile(whl).extract("skimage/data/astronaut.png", out)
tarfile.open(tgz).extract("package/demo/sample6.jpg", out, filter="data")
EOF
  mkdir -p "$IMG"
  "$PY" "$MAKE_IMAGES" images "$tmp/skimage/data/astronaut.png" "$tmp/package/demo/sample6.jpg" "$IMG"
  rm -rf "$tmp"
  echo "$wanted" >"$stamp"
}

started=$SECONDS
images
media
labelled
step "done in $((SECONDS - started)) s"
