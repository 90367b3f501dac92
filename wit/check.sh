#!/usr/bin/env bash
# Checks that a WIT file parses with a real WIT parser: jco, pinned in
# package-lock.json. Every world the file declares is parsed on its own
# (jco resolves the whole package each time).
#
#   wit/check.sh             checks wit/mesh-plugin.wit
#   wit/check.sh FILE.wit    checks another file (e.g. a draft)
#
# Needs node and npm; installs jco into wit/node_modules with `npm ci`. After
# that the parser runs offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wit=$(realpath "${1:-$here/mesh-plugin.wit}")
[ -f "$wit" ] || { echo "wit/check.sh: no such file: $wit" >&2; exit 1; }

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
jco=$here/node_modules/.bin/jco

worlds=$(sed -nE 's/^[[:space:]]*world[[:space:]]+(%?[a-z][a-z0-9-]*)[[:space:]]*\{.*/\1/p' "$wit")
if [ -z "$worlds" ]; then
  echo "wit/check.sh: $wit declares no world" >&2
  exit 1
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for world in $worlds; do
  if ! "$jco" types "$wit" --world-name "$world" -o "$out/$world" -q >"$out/err" 2>&1; then
    echo "wit/check.sh: $wit does not parse (checking world $world):" >&2
    sed -e "/^ *at /d" -e "s/^(jco types) *//" "$out/err" >&2
    exit 1
  fi
done
echo "wit/check.sh: $(basename "$wit") parses: worlds" $worlds "(jco $("$jco" --version))"
