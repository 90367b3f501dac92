#!/usr/bin/env bash
# Cuts one replica of a three-replica node off from the other two and
# measures how soon it reports itself unready, while the majority keeps
# serving; then heals the partition.
#
# Each replica runs in its own network namespace, joined to the others by
# a bridge in a fourth namespace, so the partition is real: packets are
# dropped, nothing is reset. Needs root and iproute2; it touches nothing
# outside the namespaces it creates, and removes them on exit.
#
#   sudo MESH_BIN=/path/to/mesh examples/ha/partition.sh
#
# Without MESH_BIN it builds the mesh binary first. Exit status 0 means the
# minority turned unready within LIMIT seconds (default 15) and the
# majority stayed ready and kept serving.
. "$(dirname "$0")/../lib.sh" partition

LIMIT=${LIMIT:-15}
tag="m$$"
stop_signal=KILL # a partitioned replica need not shut down cleanly
lib_on_exit() {
  for ns in br r1 r2 r3; do ip netns del "$tag-$ns" 2>/dev/null || true; done
}
mesh_binary

echo "== three namespaces on a bridge (10.77.0.1-3)"
ip netns add "$tag-br"
ip -n "$tag-br" link add br0 type bridge
ip -n "$tag-br" link set br0 up
for i in 1 2 3; do
  ip netns add "$tag-r$i"
  ip -n "$tag-br" link add "v$i" type veth peer name eth0 netns "$tag-r$i"
  ip -n "$tag-br" link set "v$i" master br0 up
  ip -n "$tag-r$i" addr add "10.77.0.$i/24" dev eth0
  ip -n "$tag-r$i" link set eth0 up
  ip -n "$tag-r$i" link set lo up
done

peers=10.77.0.1:6222,10.77.0.2:6222,10.77.0.3:6222
token=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "== starting replicas r1 r2 r3"
for i in 1 2 3; do
  spawn "$work/r$i.log" env MESH_CLUSTER_TOKEN="$token" ip netns exec "$tag-r$i" "$mesh" start --home "$work/r$i" \
    --listen 0.0.0.0:7304 --name "r$i" --advertise 10.77.0.1:7304,10.77.0.2:7304,10.77.0.3:7304 \
    --cluster-listen "10.77.0.$i:6222" --cluster-peers "$peers"
done

# at NS CMD... runs the mesh CLI against the replica in namespace NS.
at() { local ns=$1; shift; ip netns exec "$tag-$ns" "$mesh" "$@" --addr 127.0.0.1:7304; }
ready() { at "$1" status >/dev/null 2>&1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

for i in 1 2 3; do
  for _ in $(seq 240); do ready "r$i" && break; sleep 0.5; done
  ready "r$i" || { echo "r$i never became ready:"; tail -20 "$work/r$i.log"; exit 1; }
done
echo "all three ready"
at r1 chan push --session p t before >/dev/null

echo "== partition: r3 cut off from r1 and r2"
ip -n "$tag-br" link set v3 down
t0=$(now)
unready=""
while awk -v s="$(since "$t0")" -v l="$LIMIT" 'BEGIN { exit !(s < l + 10) }'; do
  if ! ready r3; then unready=$(since "$t0"); break; fi
  sleep 0.5
done
if [ -z "$unready" ]; then
  echo "FAIL: r3 still ready $(since "$t0") s after the partition"; exit 1
fi
echo "r3 (minority) unready after ${unready} s: $(at r3 status 2>&1 | grep -m1 '^ready' || true)"

# The majority may need a few seconds to elect new stream leaders.
for r in r1 r2; do
  for _ in $(seq 40); do ready "$r" && break; sleep 0.5; done
  ready "$r" || { echo "FAIL: $r (majority) is not ready"; at "$r" status || true; exit 1; }
done
at r1 chan push --session p t during >/dev/null
got=$(at r2 chan pop --session p t; at r2 chan pop --session p t)
[ "$got" = "beforeduring" ] || { echo "FAIL: majority popped '$got'"; exit 1; }
echo "r1 and r2 (majority) ready and serving: pushed via r1, popped via r2"

echo "== healing"
ip -n "$tag-br" link set v3 up
t1=$(now)
for _ in $(seq 120); do ready r3 && break; sleep 0.5; done
ready r3 || { echo "FAIL: r3 not ready again after healing"; exit 1; }
echo "r3 ready again $(since "$t1") s after healing"

if awk -v u="$unready" -v l="$LIMIT" 'BEGIN { exit !(u > l) }'; then
  echo "FAIL: the minority took ${unready} s to turn unready (limit ${LIMIT} s)"; exit 1
fi
echo "PASS: minority unready after ${unready} s"
