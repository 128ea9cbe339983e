#!/usr/bin/env bash
# Creates or refreshes .venv-sam with the pinned SAM CLI. Quick when nothing
# changed: the stamp records the requirements it was built from.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-sam
req=scripts/requirements-sam.txt
stamp="$venv/.stamp-$(sha256sum "$req" | cut -c1-16)"
if [ -f "$stamp" ] && [ -x "$venv/bin/sam" ]; then
  exit 0
fi
echo "==> setting up $venv (aws-sam-cli) from $req"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "error: python3 -m venv failed; install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  }
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
rm -f "$venv"/.stamp-*
touch "$stamp"
echo "==> $venv ready: $(SAM_CLI_TELEMETRY=0 "$venv/bin/sam" --version)"
