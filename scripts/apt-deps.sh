#!/usr/bin/env bash
# Installs the Debian packages the build needs (whisper.cpp: cmake, clang, libclang-dev;
# libjpeg-turbo's x86-64 SIMD: nasm, without which JPEG decoding builds but runs slower)
# when any is missing. Idempotent: does nothing, quickly, once they are there.
# Extra packages can be named as arguments: scripts/apt-deps.sh espeak-ng ffmpeg
set -euo pipefail
wanted=(cmake clang libclang-dev nasm "$@")
missing=()
for package in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "==> installing with apt-get: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "error: apt packages missing (${missing[*]}) and not root; install them: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq || {
  echo "error: apt-get update failed; install these packages by hand: ${missing[*]}" >&2
  exit 1
}
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
  echo "error: apt-get install ${missing[*]} failed" >&2
  exit 1
}
echo "==> installed: ${missing[*]}"
