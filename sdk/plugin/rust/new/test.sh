#!/bin/sh
# test.sh: builds the plugin and checks it with `mesh plugin test`.
# MESH names the mesh binary (default: mesh on PATH).
set -eu
cd "$(dirname "$0")"
name=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
kind=$(sed -n 's/^kind = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
./build.sh . "$name.wasm"
exec "${MESH:-mesh}" plugin test "$name.wasm" --kind "$kind"
