#!/usr/bin/env bash
# One Mesh node on a temporary home: set its identity, push a message, peek,
# pop it, release the session. Needs only Go and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
home=$(mktemp -d)
port=${PORT:-17304}
go build -o "$home/mesh" ./cmd/mesh
"$home/mesh" start --home "$home" --listen "127.0.0.1:$port" 2>"$home/node.log" &
node=$!
trap 'kill $node 2>/dev/null; wait $node 2>/dev/null; rm -rf "$home"' EXIT
for _ in $(seq 100); do curl -fs "127.0.0.1:$port/stats" >/dev/null && break; sleep 0.1; done

api="http://127.0.0.1:$port/v1/interconn"
say() { printf '\n$ %s\n' "$*"; }
say "node refresh";   curl -s "$api/node/refresh" -d '{"node_id":"node-a","inst_id":"inst-a","inst_name":"Bank A"}' | cut -c1-120; echo …
say "push 'hello'";   curl -s "$api/chan/push" -H 'x-ptp-session-id: job-1' -d '{"topic":"weights","payload":"aGVsbG8="}'
say "peek";           curl -s "$api/chan/peek" -H 'x-ptp-session-id: job-1' -d '{"topic":"weights"}'
say "pop";            curl -s "$api/chan/pop"  -H 'x-ptp-session-id: job-1' -d '{"topic":"weights","timeout":1000}'
say "pop (empty, waits 200 ms)"; curl -s "$api/chan/pop" -H 'x-ptp-session-id: job-1' -d '{"topic":"weights","timeout":200}'
say "release";        curl -s "$api/chan/release" -H 'x-ptp-session-id: job-1' -d '{}'
say "push after release"; curl -s "$api/chan/push" -H 'x-ptp-session-id: job-1' -d '{"topic":"weights","payload":"aGVsbG8="}'
