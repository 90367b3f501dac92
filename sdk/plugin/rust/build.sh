#!/bin/sh
# build.sh [DIR] [OUT]: builds the Mesh plugin whose lib.rs is in DIR
# (default .) into OUT (default DIR/plugin.wasm) with rustc alone, for
# wasm32-unknown-unknown, optimised and stripped. The kit, mesh_plugin.rs,
# is taken from beside this script, so the script works in the kit folder
# (sdk/plugin/rust/build.sh sdk/plugin/rust/examples/codec /tmp/xor.wasm)
# and in a project made by `mesh plugin new` (./build.sh . NAME.wasm).
#
# RUSTC overrides the compiler (default: /usr/bin/rustc when it exists,
# else rustc on PATH); it must have the wasm32-unknown-unknown target.
set -eu

kit=$(cd "$(dirname "$0")" && pwd)
dir=${1:-.}
out=${2:-$dir/plugin.wasm}

if [ ! -f "$dir/lib.rs" ]; then
	echo "build.sh: no lib.rs in $dir (the plugin's crate root, with 'mod mesh_plugin;')" >&2
	exit 2
fi
if [ ! -f "$kit/mesh_plugin.rs" ]; then
	echo "build.sh: the kit file mesh_plugin.rs is missing beside $0" >&2
	exit 2
fi

if [ -z "${RUSTC:-}" ]; then
	if [ -x /usr/bin/rustc ]; then RUSTC=/usr/bin/rustc; else RUSTC=rustc; fi
fi
if ! command -v "$RUSTC" >/dev/null 2>&1; then
	echo "build.sh: $RUSTC not found: install Rust with its wasm target (Debian: apt-get install rustc libstd-rust-dev-wasm32)" >&2
	exit 127
fi
sysroot=$("$RUSTC" --print sysroot)
if [ ! -d "$sysroot/lib/rustlib/wasm32-unknown-unknown" ]; then
	echo "build.sh: $RUSTC has no wasm32-unknown-unknown target (Debian: apt-get install libstd-rust-dev-wasm32; rustup: rustup target add wasm32-unknown-unknown)" >&2
	exit 127
fi

# rustc finds `mod mesh_plugin;` beside lib.rs: build in a scratch copy
# that has the plugin's .rs files and the kit, so the source folder stays
# clean whether or not it holds a copy of the kit.
work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-rust-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$dir"/*.rs "$work/"
cp "$kit/mesh_plugin.rs" "$work/mesh_plugin.rs"

"$RUSTC" --edition 2021 --crate-type cdylib --crate-name plugin \
	--target wasm32-unknown-unknown \
	-C opt-level=3 -C lto=fat -C codegen-units=1 -C panic=abort \
	-C debuginfo=0 -C strip=symbols \
	-o "$work/plugin.wasm" "$work/lib.rs"
mkdir -p "$(dirname "$out")"
cp "$work/plugin.wasm" "$out"
