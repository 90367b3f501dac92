#!/bin/sh
# build.sh [DIR] [OUT]: build the Go plugin whose sources are in DIR
# (default .) into OUT (default DIR/plugin.wasm), a WebAssembly reactor
# for WASI preview 1, as the node loads it.
set -eu

dir=${1:-.}
out=${2:-$dir/plugin.wasm}

if ! command -v go >/dev/null 2>&1; then
	echo "build.sh: go not found: install Go 1.26 or later (Debian: apt-get install golang-go, or https://go.dev/dl/)" >&2
	exit 127
fi
if [ ! -d "$dir" ]; then
	echo "build.sh: $dir is not a folder" >&2
	exit 2
fi
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac

# Build in DIR, so that its go.mod (the project's, or the repository's)
# decides the module.
cd "$dir"
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -o "$out" .
echo "built $out ($(wc -c <"$out" | tr -d ' ') bytes)"
