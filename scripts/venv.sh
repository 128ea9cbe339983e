#!/usr/bin/env bash
# Creates or refreshes .venv with moto and cargo-lambda. Quick when nothing changed:
# the stamp records the requirements it was built from.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
req=scripts/requirements-dev.txt
stamp="$venv/.stamp-$(sha256sum "$req" | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
echo "==> setting up $venv (moto, cargo-lambda) from $req"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "error: python3 -m venv failed; install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  }
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
rm -f "$venv"/.stamp-*
touch "$stamp"
echo "==> $venv ready: $("$venv/bin/moto_server" --version 2>/dev/null || echo moto) / $("$venv/bin/cargo-lambda" lambda --version 2>/dev/null || echo cargo-lambda)"
