#!/usr/bin/env bash
# Creates or refreshes .venv with moto and cargo-lambda. Quick when nothing changed:
# the stamp records the requirements it was built from.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
req=scripts/requirements-dev.txt
stamp="$venv/.stamp-$(sha256sum "$req" | cut -c1-16)"
# cargo-lambda cross-compiles with zig, which it looks for as `python3 -m ziglang` (the
# python3 first on PATH) or as `zig` on PATH. `sam build` runs it with the user's PATH,
# where python3 is often another one (.venv-sam's, the system's) without ziglang: then
# it fails with "Zig is not installed in your system". A `zig` beside cargo-lambda in
# .venv/bin (a link to the ziglang wheel's binary) is found whatever python3 is.
link_zig() {
  local zig
  zig=$("$venv/bin/python" -c 'import os, ziglang; print(os.path.relpath(os.path.join(os.path.dirname(ziglang.__file__), "zig"), os.path.realpath("'"$venv"'/bin")))' 2>/dev/null) || return 0
  if [ -x "$venv/bin/$zig" ] && [ "$(readlink "$venv/bin/zig" 2>/dev/null)" != "$zig" ]; then
    ln -sfn "$zig" "$venv/bin/zig"
  fi
}
if [ -f "$stamp" ]; then
  link_zig
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
link_zig
rm -f "$venv"/.stamp-*
touch "$stamp"
echo "==> $venv ready: $("$venv/bin/moto_server" --version 2>/dev/null || echo moto) / $("$venv/bin/cargo-lambda" lambda --version 2>/dev/null || echo cargo-lambda)"
