#!/bin/sh
# test.sh: builds the plugin (NAME.wasm, NAME and kind from plugin.conf) and
# checks it the way a node loads it, with `mesh plugin test`.
# MESH names the mesh binary (default: mesh on PATH).
set -eu
cd "$(dirname "$0")"
name=$(sed -n 's/^name=//p' plugin.conf | head -n 1)
kind=$(sed -n 's/^kind=//p' plugin.conf | head -n 1)
[ -n "$name" ] && [ -n "$kind" ] || { echo "test.sh: plugin.conf names no name= or kind=" >&2; exit 1; }
./build.sh . "$name.wasm"
exec "${MESH:-mesh}" plugin test "$name.wasm" --kind "$kind"
