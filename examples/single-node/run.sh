#!/usr/bin/env bash
# One Mesh node on a temporary home: set its identity, push a message, peek,
# pop it, release the session. Needs only Go (or MESH_BIN=/path/to/mesh to
# skip the build) and curl.
#
# The node listens on a free loopback port, or on PORT when given: if PORT
# is taken the script stops before it sends anything, since whatever answers
# there is not the node it started. The node and the temporary home are
# removed on every exit (success, failure, Ctrl-C).
. "$(dirname "$0")/../lib.sh" single-node
mesh_binary
home=$work
spawn "$home/node.log" "$mesh" start --home "$home" --listen "127.0.0.1:${PORT:-0}"
node=${pids[-1]}
echo "node: pid $node"
wait_listen "$node" "$home/node.log" 60 "the node" " (is port ${PORT:-0} taken?)"
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
