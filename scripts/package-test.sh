#!/usr/bin/env bash
# Body of `make package-test` (after `make package`, models and fixtures): installs
# qemu-user and the arm64 C library when missing, then boots each arm64 bootstrap.zip
# under qemu against a Lambda Runtime API with moto and algo-server: scripts/package_test.py.
# Arguments: function names (default: all five).
set -euo pipefail
cd "$(dirname "$0")/.."
# libstdc++6-arm64-cross: libstdc++.so.6, which ONNX Runtime's libonnxruntime.so (in the
# models layer of algo-server-lambda) needs at run time.
echo "==> [package-test] apt packages: qemu-user (qemu-aarch64), libc6-arm64-cross and libstdc++6-arm64-cross (/usr/aarch64-linux-gnu)"
if ! command -v qemu-aarch64 >/dev/null && command -v qemu-aarch64-static >/dev/null; then
  # qemu-user-static instead of qemu-user: the same emulator under another name.
  export QEMU_AARCH64=qemu-aarch64-static
  scripts/apt-deps.sh libc6-arm64-cross libstdc++6-arm64-cross
else
  scripts/apt-deps.sh qemu-user libc6-arm64-cross libstdc++6-arm64-cross
fi
scripts/venv.sh
exec .venv/bin/python scripts/package_test.py "$@"
