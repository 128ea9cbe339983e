#!/usr/bin/env bash
# Names a copy of the starter after its folder:
#
#   cp -r blueprints/_template blueprints/sqs-echo
#   scripts/rename-blueprint.sh blueprints/sqs-echo
#
# Replaces the placeholder `blueprint-template` (package, binary, SAM Binary, stack
# name) and `blueprint_template` (the crate in `use` paths) in that folder only. The
# workspace picks the crate up by its `blueprints/*` glob: nothing outside the folder
# changes (Cargo.lock gains the package on the next build).
set -euo pipefail

die() { echo "rename-blueprint: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: scripts/rename-blueprint.sh blueprints/<name>"
dir="${1%/}"
[[ -d "$dir" ]] || die "$dir is not a folder (copy the starter first: cp -r blueprints/_template $dir)"
[[ -f "$dir/Cargo.toml" ]] || die "$dir has no Cargo.toml: is it a copy of blueprints/_template?"
name="$(basename "$dir")"
[[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] \
  || die "the folder name '$name' must be lowercase letters, digits and '-', starting with a letter (it becomes the package, binary and stack name)"
[[ "$name" != "_template" ]] || die "rename a copy, not the starter itself"
grep -q 'name = "blueprint-template"' "$dir/Cargo.toml" \
  || die "$dir/Cargo.toml does not name the package blueprint-template: already renamed?"
root="$(cd "$(dirname "$0")/.." && pwd)"
for other in "$root"/blueprints/*/Cargo.toml "$root"/crates/*/Cargo.toml "$root"/tests/Cargo.toml; do
  [[ "$(dirname "$other")" -ef "$dir" ]] && continue
  if grep -q "^name = \"$name\"$" "$other"; then
    die "a package named $name exists already: $other"
  fi
done

snake="${name//-/_}"
mapfile -t files < <(grep -rlE 'blueprint[-_]template' "$dir" --exclude-dir=.aws-sam || true)
for file in "${files[@]}"; do
  sed -i -e "s/blueprint-template/$name/g" -e "s/blueprint_template/$snake/g" "$file"
done
echo "renamed $dir: package and binary $name, crate $snake (${#files[@]} files)"
echo "next: write src/handler.rs, then: cargo test -p $name"
