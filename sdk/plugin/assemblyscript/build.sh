#!/bin/sh
# build.sh [DIR] [OUT]: builds the Mesh plugin whose entry file is
# DIR/index.ts (default DIR: .) into OUT (default DIR/plugin.wasm) with the
# AssemblyScript compiler, using the kit next to this script (assembly/,
# imported by plugins as "mesh-plugin/..."). The compiler comes from
# package.json / package-lock.json: when node_modules is missing, this runs
# npm ci next to the script. Nothing is written but OUT (work goes to a
# temporary directory).
set -eu

kit=$(cd "$(dirname "$0")" && pwd)
dir=${1:-.}
out=${2:-$dir/plugin.wasm}

fail() {
	echo "build.sh: $*" >&2
	exit 1
}

[ -f "$dir/index.ts" ] || fail "no $dir/index.ts: the plugin's entry file (see $kit/README.md)"
[ -f "$kit/assembly/codec.ts" ] || fail "the kit is missing: no $kit/assembly/codec.ts"
command -v node >/dev/null 2>&1 || fail "node is not installed: install Node.js 20 or later (Debian: apt-get install nodejs npm)"
asc="$kit/node_modules/.bin/asc"
if [ ! -x "$asc" ]; then
	command -v npm >/dev/null 2>&1 || fail "npm is not installed (Debian: apt-get install npm), so the AssemblyScript compiler cannot be fetched; or run npm ci in $kit"
	# Builds started together install once: the first takes the lock,
	# the others wait for it and find the compiler there.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"${TMPDIR:-/tmp}/mesh-as-npm-ci.lock"
		flock 9
	fi
	if [ ! -x "$asc" ]; then
		echo "build.sh: installing the AssemblyScript compiler (npm ci in $kit)" >&2
		(cd "$kit" && npm ci --no-audit --no-fund --loglevel=error >&2) || fail "npm ci in $kit failed: run it by hand to see why (the compiler is the npm package assemblyscript)"
	fi
	[ -x "$asc" ] || fail "npm ci did not install $asc"
	exec 9>&-
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mesh-as-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
# Plugins import the kit as the package "mesh-plugin" (--path).
ln -s "$kit/assembly" "$tmp/mesh-plugin"

# --runtime: the kit's bump allocator, reset at each call (assembly/heap.ts).
# --use abort=...: no env.abort import; the kit's abort logs and traps.
# -O3 --noAssert: optimised for speed; the output is small anyway.
"$asc" "$dir/index.ts" \
	--path "$tmp" \
	--runtime "$tmp/mesh-plugin/runtime" \
	--use "abort=~lib/mesh-plugin/abort/meshAbort" \
	-O3 --noAssert \
	--noColors \
	-o "$tmp/plugin.wasm" || fail "asc failed to compile $dir/index.ts"
cp "$tmp/plugin.wasm" "$out" || fail "cannot write $out"
echo "build.sh: wrote $out ($(wc -c <"$out") bytes)" >&2
