#!/usr/bin/env bash
# Two institutions, A and B, each with its own Mesh node on this machine:
# identify both, weave them with the authorisation code checked, then each
# side pushes 100 messages to the other and pops the 100 sent to it.
# Needs only Go (or MESH_BIN=/path/to/mesh to skip the build) and bash.
. "$(dirname "$0")/../lib.sh" two-party
mesh_binary

# start SIDE: run a node on a free loopback port and wait until it serves
# (bounded: 60 s); sets addr.
start() {
	spawn "$work/$1.log" "$mesh" start --home "$work/$1" --listen 127.0.0.1:0
	wait_listen "${pids[-1]}" "$work/$1.log" 60 "node $1"
}
start a
addr_a=$addr
start b
addr_b=$addr

# at_a / at_b: the operator of A / B runs a mesh command against their node.
at_a() { MESH_ADDRESS=$addr_a "$mesh" "$@"; }
at_b() { MESH_ADDRESS=$addr_b "$mesh" "$@"; }
# field NAME: a string field of the JSON route on standard input.
field() { grep -o "\"$1\": \"[^\"]*\"" | head -n 1 | cut -d'"' -f4; }
step() { printf '\n== %s\n' "$*"; }

step "A and B identify their nodes"
at_a node refresh --node-id node-a --inst-id inst-a --inst-name "Institution A"
at_b node refresh --node-id node-b --inst-id inst-b --inst-name "Institution B"

step "A adds B's node and weaves"
at_a net add node-b --inst inst-b --address "$addr_b" >/dev/null
at_a net weave node-b
code_a=$(at_a net show node-b -o json | field code)

step "B sees A's handshake; the operators read their codes to each other"
at_b net list
code_b=$(at_b net show node-a -o json | field code)
# Over a trusted channel (a call): A reads out $code_a, B reads out $code_b.
[ -n "$code_a" ] && [ "$code_a" = "$code_b" ] || die "codes differ: A sees '$code_a', B sees '$code_b': do not ack"

step "each operator acks with the code the other read out"
at_b net ack node-a --inst inst-a --code "$code_a" >/dev/null
at_a net ack node-b --inst inst-b --code "$code_b" >/dev/null
for _ in $(seq 300); do
	[ "$(at_a net show node-b -o json | field state)" = woven ] &&
		[ "$(at_b net show node-a -o json | field state)" = woven ] && break
	sleep 0.1
done
at_a net list
at_b net list
[ "$(at_a net show node-b -o json | field state)" = woven ] || die "A's route to B is not woven after 30 s"

# exchange FROM TO: FROM's container pushes 100 messages to TO's node; TO's
# container pops them and checks every payload. Prints "FROM→TO: N/100".
exchange() {
	local from=$1 to=$2 i got ok=0
	for i in $(seq -w 1 100); do
		out=$("at_$from" chan push --session job-1 --target "node-$to" "from-$from" "message $i from $from")
		[ "$out" = "delivered to node-$to" ] || die "push $i $from→$to: $out"
	done
	for i in $(seq -w 1 100); do
		# (a pop that times out exits 3: no message within 10 s)
		got=$("at_$to" chan pop --session job-1 --timeout 10000 "from-$from") || die "pop $i at $to: no message within 10 s"
		[ "$got" = "message $i from $from" ] || die "pop $i at $to: got '$got'"
		ok=$((ok + 1))
	done
	echo "$from→$to: $ok/100"
}

step "each side pushes 100 messages to the other and pops the other's 100"
exchange a b >"$work/ab" &
ab=$!
exchange b a >"$work/ba" &
ba=$!
wait "$ab" || die "A→B exchange failed"
wait "$ba" || die "B→A exchange failed"

step "summary"
echo "woven node-a (inst-a) ⇄ node-b (inst-b) with authorisation code $code_a"
echo "$(<"$work/ab"), $(<"$work/ba"): 200 messages exchanged, every payload checked"
