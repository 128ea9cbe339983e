#!/usr/bin/env bash
# `timed.sh NAME COMMAND...`: runs one set-up or build step of a make target and prints
# how long it took, so a first `make demo` or `make test` shows where its time goes.
set -uo pipefail
name="$1"
shift
began=$(date +%s%N)
"$@"
rc=$?
took=$(( ($(date +%s%N) - began) / 1000000 ))
if [[ $rc == 0 ]]; then
  printf '==> %s: %d.%01d s\n' "$name" $((took / 1000)) $((took % 1000 / 100))
else
  printf '!! %s failed (exit %d) after %d.%01d s\n' "$name" "$rc" $((took / 1000)) $((took % 1000 / 100)) >&2
fi
exit "$rc"
