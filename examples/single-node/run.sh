#!/usr/bin/env bash
# One Mesh node on a temporary home: set its identity, push a message, peek,
# pop it, release the session. Needs only Go (or MESH_BIN=/path/to/mesh to
# skip the build) and curl.
#
# The node listens on a free loopback port, or on PORT when given: if PORT
# is taken the script stops before it sends anything, since whatever answers
# there is not the node it started. The node and the temporary home are
# removed on every exit (success, failure, Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/../.."
home=$(mktemp -d)
node=
cleanup() {
	status=$?
	set +e
	if [ -n "$node" ]; then
		kill "$node" 2>/dev/null
		wait "$node" 2>/dev/null
	fi
	[ "$status" -ne 0 ] && [ -f "$home/node.log" ] && { echo "--- node log (tail)" >&2; tail -n 20 "$home/node.log" >&2; }
	rm -rf "$home"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "single-node: $*" >&2; exit 1; }

mesh=${MESH_BIN:-}
if [ -z "$mesh" ]; then
	go build -o "$home/mesh" ./cmd/mesh
	mesh=$home/mesh
fi
"$mesh" start --home "$home" --listen "127.0.0.1:${PORT:-0}" 2>"$home/node.log" &
node=$!
echo "node: pid $node"
# The node logs listen=ADDR once it holds its port: only then is what answers
# at ADDR this node (bounded: 60 s).
addr=
for _ in $(seq 600); do
	addr=$(grep -o 'listen=[^ ]*' "$home/node.log" | head -n 1 | cut -d= -f2 || true)
	[ -n "$addr" ] && break
	kill -0 "$node" 2>/dev/null || die "the node exited at start (is port ${PORT:-0} taken?)"
	sleep 0.1
done
[ -n "$addr" ] || die "the node did not start in 60 s"
for _ in $(seq 100); do curl -fs "$addr/stats" >/dev/null && break; sleep 0.1; done
echo "node: serving at $addr"

api="http://$addr/v1/interconn"
say() { printf '\n$ %s\n' "$*"; }
say "node refresh";   curl -s "$api/node/refresh" -d '{"node_id":"node-a","inst_id":"inst-a","inst_name":"Bank A"}' | cut -c1-120; echo …
say "push 'hello'";   curl -s "$api/chan/push" -H 'x-ptp-session-id: job-1' -d '{"topic":"weights","payload":"aGVsbG8="}'
say "peek";           curl -s "$api/chan/peek" -H 'x-ptp-session-id: job-1' -d '{"topic":"weights"}'
say "pop";            curl -s "$api/chan/pop"  -H 'x-ptp-session-id: job-1' -d '{"topic":"weights","timeout":1000}'
say "pop (empty, waits 200 ms)"; curl -s "$api/chan/pop" -H 'x-ptp-session-id: job-1' -d '{"topic":"weights","timeout":200}'
say "release";        curl -s "$api/chan/release" -H 'x-ptp-session-id: job-1' -d '{}'
say "push after release"; curl -s "$api/chan/push" -H 'x-ptp-session-id: job-1' -d '{"topic":"weights","payload":"aGVsbG8="}'
echo
