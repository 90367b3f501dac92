#!/bin/sh
# build.sh [DIR] [OUT] — builds the Mesh plugin whose C sources (*.c) are in
# DIR (default .) into OUT (default DIR/plugin.wasm), with the kit's
# mesh_plugin.h found next to this script. Needs clang and wasm-ld
# (Debian: apt-get install clang lld). CC and CFLAGS may be overridden.
set -eu

kit=$(cd "$(dirname "$0")" && pwd)
dir=${1:-.}
out=${2:-$dir/plugin.wasm}
cc=${CC:-clang}

die() { echo "build.sh: $*" >&2; exit 1; }

command -v "$cc" >/dev/null 2>&1 ||
	die "$cc not found: install clang and lld (Debian: apt-get install clang lld)"
command -v wasm-ld >/dev/null 2>&1 ||
	die "wasm-ld not found: install lld (Debian: apt-get install lld)"
[ -f "$kit/mesh_plugin.h" ] || die "mesh_plugin.h not found next to $0"
[ -d "$dir" ] || die "$dir is not a directory"

srcs=$(find "$dir" -maxdepth 1 -name '*.c' | sort)
[ -n "$srcs" ] || die "no .c files in $dir"

# -mbulk-memory: memcpy/memset become memory.copy/memory.fill (wazero has them).
# shellcheck disable=SC2086 # srcs and CFLAGS are word lists
exec "$cc" --target=wasm32-unknown-unknown -nostdlib -ffreestanding -mbulk-memory \
	${CFLAGS:--O2} -Wall -Wextra -I"$kit" \
	-Wl,--no-entry -Wl,--strip-all -Wl,--gc-sections \
	-o "$out" $srcs
