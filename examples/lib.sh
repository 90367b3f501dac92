# The shape every example script shares: a temporary work directory, the
# mesh binary, node processes started in the background and waited for
# until they hold their port, and a cleanup that stops them, shows their
# logs' tails on failure and removes the work directory on every exit
# (success, failure, Ctrl-C). Source it first thing:
#
#   . "$(dirname "$0")/../lib.sh" NAME
#
# It runs `set -euo pipefail`, changes to the repository root and sets:
#   work        a temporary directory, removed on exit
#   pids logs   the processes spawn started and their logs (tailed on failure)
#   mesh        after mesh_binary: $MESH_BIN, or a binary built into $work
#   addr        after wait_listen: the address the node serves at
# A script may set, before it exits:
#   stop_signal the signal that stops its processes (default TERM)
#   int_status  the exit status on Ctrl-C or TERM (default 130)
# and define lib_on_exit, run once the processes are stopped.
set -euo pipefail
lib_name=${1:?lib.sh: source it with the script name}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d)
pids=()
logs=()
stop_signal=TERM
int_status=130

# lib_cleanup stops every spawned process, tails their logs when the script
# failed, runs the script's lib_on_exit, and removes $work.
lib_cleanup() {
	local status=$? pid log
	set +e
	for pid in "${pids[@]}"; do kill "-$stop_signal" "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	if [ "$status" -ne 0 ]; then
		for log in "${logs[@]}"; do
			[ -f "$log" ] && { echo "--- $(basename "$log" .log) log (tail)" >&2; tail -n 20 "$log" >&2; }
		done
	fi
	declare -F lib_on_exit >/dev/null && lib_on_exit
	rm -rf "$work"
	exit "$status"
}
trap lib_cleanup EXIT
trap 'exit $int_status' INT TERM

# die prints the script's name and a message on standard error and fails.
die() {
	echo "$lib_name: $*" >&2
	exit 1
}

# mesh_binary sets mesh to $MESH_BIN, or builds the binary into $work.
mesh_binary() {
	mesh=${MESH_BIN:-}
	if [ -z "$mesh" ]; then
		go build -o "$work/mesh" ./cmd/mesh
		mesh=$work/mesh
	fi
}

# spawn LOG CMD...: run CMD in the background with its standard error
# appended to LOG; its pid is ${pids[-1]}. (Call it in the script's own
# shell, never in $(...): the cleanup could not reach the process.)
spawn() {
	local log=$1
	shift
	"$@" 2>>"$log" &
	pids+=($!)
	logs+=("$log")
}

# wait_listen PID LOG SECONDS WHAT [HINT [FROM]]: wait until LOG (after its
# first FROM lines: what earlier runs logged) shows the node's listen=ADDR,
# which it logs once it holds its port: only then is what answers at ADDR
# this node. Sets addr. Dies, naming WHAT, if PID exits first (adding HINT)
# or after SECONDS.
wait_listen() {
	local pid=$1 log=$2 limit=$3 what=$4 hint=${5:-} from=${6:-0} _
	addr=
	for _ in $(seq $((limit * 10))); do
		addr=$(awk -v n="$from" 'NR > n && match($0, /(^| )listen=[^ ]*/) {
			s = substr($0, RSTART, RLENGTH); sub(/^ ?listen=/, "", s); print s; exit }' "$log" 2>/dev/null || true)
		[ -n "$addr" ] && return
		kill -0 "$pid" 2>/dev/null || die "$what exited at start$hint"
		sleep 0.1
	done
	die "$what did not start in $limit s"
}
