#!/usr/bin/env bash
# A three-replica Mesh node on this machine, with one command: three
# `mesh start` processes whose embedded NATS servers form a cluster, so the
# queues and state are kept on all three (R3) and any replica serves any
# session. It shows a push through r1 popped through r2, then keeps the
# replicas running until Ctrl-C.
#
#   bash examples/ha/run.sh            # run until Ctrl-C
#   DEMO=1 bash examples/ha/run.sh     # also kill -9 r1 and carry on, then stop
#
# Ports: replicas on 127.0.0.1:7301-7303 (PTP and HTTP), NATS routes on
# 127.0.0.1:6301-6303; BASE=8300 moves them. State goes to $HA_HOME (default
# a temporary directory, removed at the end). Needs only Go (or MESH_BIN).
. "$(dirname "$0")/../lib.sh" ha
base=${BASE:-7300}
route=$((base - 1000))
home=${HA_HOME:-$work}
int_status=0 # Ctrl-C is how this demo ends
mesh_binary

addrs=() peers=()
for i in 1 2 3; do
	addrs+=("127.0.0.1:$((base + i))")
	peers+=("127.0.0.1:$((route + i))")
done
all_addrs=$(IFS=,; echo "${addrs[*]}")
all_peers=$(IFS=,; echo "${peers[*]}")

echo "== starting replicas r1 r2 r3 (state in $home)"
mkdir -p "$home"
logged=() # lines each replica's log (kept across runs with HA_HOME) had before this start
for i in 1 2 3; do
	logged+=("$(wc -l 2>/dev/null <"$home/r$i.log" || echo 0)")
	spawn "$home/r$i.log" "$mesh" start --home "$home/r$i" --name "r$i" --listen "${addrs[i-1]}" --advertise "$all_addrs" \
		--cluster-listen "${peers[i-1]}" --cluster-peers "$all_peers"
done
at() { local i=$1; shift; MESH_ADDRESS=${addrs[i-1]} "$mesh" "$@"; }
# A replica that exits first found its port taken (bounded: 120 s).
for i in 1 2 3; do
	wait_listen "${pids[i-1]}" "$home/r$i.log" 120 "r$i" " (is ${addrs[i-1]} or ${peers[i-1]} taken?)" "${logged[i-1]}"
	[ "$addr" = "${addrs[i-1]}" ] || die "r$i serves at $addr, not ${addrs[i-1]}"
done
for i in 1 2 3; do
	for _ in $(seq 240); do at "$i" status >/dev/null 2>&1 && break; sleep 0.5; done
	at "$i" status >/dev/null 2>&1 || die "r$i is not ready after 120 s"
done
[ -n "$(at 1 node show -o json | grep -o '"node_id": "[^"]\+"' || true)" ] ||
	at 1 node refresh --node-id "${NODE_ID:-node-ha}" --inst-id "${INST_ID:-inst-ha}" >/dev/null
echo "== r2 sees the cluster"
at 2 status

echo "== push through r1, pop through r2 and r3"
at 1 chan push --session demo t "hello through r1"
at 1 chan push --session demo t "and again"
echo "r2 popped: $(at 2 chan pop --session demo t)"
echo "r3 popped: $(at 3 chan pop --session demo t)"

if [ -n "${DEMO:-}" ]; then
	echo "== kill -9 r1; r2 and r3 carry on"
	kill -9 "${pids[0]}"
	at 2 chan push --session demo t "after the crash"
	echo "r3 popped: $(at 3 chan pop --session demo t)"
	echo "ha: three replicas, one crashed, nothing lost"
	exit 0
fi
echo
echo "Replicas serve at $all_addrs; partners can be given that whole list."
echo "Try: MESH_ADDRESS=${addrs[1]} $mesh status   (Ctrl-C stops all three)"
wait
