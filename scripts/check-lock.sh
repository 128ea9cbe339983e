#!/usr/bin/env bash
# The set-up scripts' lock (scripts/lib.sh), run by `make test` after `make fixtures`:
#  - a script started by one holding the lock runs at once (models.sh starts fixtures.sh
#    for its smoke clip; before the lock was reentrant this waited forever on a fresh machine);
#  - a second, unrelated run waits, and gives up with a clear message after SCRIPTS_LOCK_WAIT s.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
fail() { echo "!! check-lock: $*" >&2; exit 1; }
lock=.cache/scripts.lock

out=$(SCRIPT=check-lock timeout 120 bash -c 'set -euo pipefail; source scripts/lib.sh; scripts/fixtures.sh' 2>&1)
rc=$?
[[ $rc == 0 ]] || fail "fixtures.sh under a parent holding the lock: rc $rc (124: it waited for its parent)"$'\n'"$out"
[[ "$out" != *"waiting for another"* ]] || fail "fixtures.sh waited for its own parent"

# The holder is `sleep` itself (exec), so killing it releases the lock at once.
(exec 9>"$lock" && flock 9 && exec sleep 30) &
holder=$!
trap 'kill $holder 2>/dev/null; wait $holder 2>/dev/null' EXIT
# The holder may not have the lock yet: wait until a non-blocking attempt fails.
for _ in $(seq 50); do flock -n "$lock" true || break; sleep 0.1; done
out=$(SCRIPTS_LOCK_WAIT=1 timeout 60 scripts/fixtures.sh 2>&1)
rc=$?
[[ $rc == 1 ]] || fail "fixtures.sh while another run holds the lock: rc $rc, expected 1"$'\n'"$out"
[[ "$out" == *"another run has held"*"scripts.lock for 1 s"* ]] || fail "no clear message when the lock stays held:"$'\n'"$out"
echo "==> set-up scripts' lock: nested run went ahead, concurrent run waited and gave up clearly"
