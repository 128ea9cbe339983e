#!/usr/bin/env bash
# Installs the official Algorithmia clients the suites in clients/ run: the Node.js client
# (clients/node, `npm ci` from its lockfile) and the Python client (.venv-clients from the
# pinned clients/python/requirements.txt). Quick when nothing changed: each records a stamp
# of what it was built from. Needs node >= 18 and npm (installed from Debian when
# missing), python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

node_dir=clients/node
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  # Debian's nodejs (18 in bookworm) is enough for node:test.
  scripts/apt-deps.sh nodejs npm || true
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "error: node and npm are needed for clients/node (apt-get install nodejs npm, or Node >= 18 from nodejs.org)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "error: node $(node --version) is too old for clients/node (node:test needs >= 18)" >&2
  exit 1
fi
stamp="$node_dir/node_modules/.stamp-$(sha256sum "$node_dir/package-lock.json" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> npm ci in $node_dir (algorithmia 0.3.10)"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

venv=.venv-clients
req=clients/python/requirements.txt
stamp="$venv/.stamp-$(sha256sum "$req" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> setting up $venv (algorithmia 2.0.5) from $req"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || {
    echo "error: python3 -m venv failed; install python3-venv" >&2
    exit 1
  }
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  rm -f "$venv"/.stamp-*
  touch "$stamp"
fi
