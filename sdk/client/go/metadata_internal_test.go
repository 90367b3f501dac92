package meshclient

import (
	"maps"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// TestHeadersOfACall: a call's headers are the session's, lower-cased, with
// the session id Open was given; the per-call headers (topic, timeout, a
// stale session id) and empty values are dropped, and the target headers
// go on pushes only. (This node ignores targets on a pop; other PTP nodes
// may route by them, so they are not sent.) This file must not import
// host/meshtest: host/client, which it uses, imports this package.
func TestHeadersOfACall(t *testing.T) {
	md := Metadata{"X-PTP-Target-Node-ID": "node-b", HeaderTargetInstID: "inst-b", HeaderTraceID: "tr-1",
		HeaderSessionID: "stale", HeaderTopic: "t", HeaderTimeout: "5", HeaderToken: ""}
	base := map[string]string{HeaderTraceID: "tr-1", HeaderSessionID: "s"}
	push := maps.Clone(base)
	push[HeaderTargetNodeID], push[HeaderTargetInstID] = "node-b", "inst-b"
	for m, want := range map[ptp.Method]map[string]string{ptp.Push: push, ptp.Pop: base, ptp.Peek: base, ptp.Release: base} {
		if got := md.headers("s", m); !maps.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", m, got, want)
		}
	}
}

// TestWaitMS: a pop's wait in ms never rounds a short wait down to 0 (the
// node's 120 s default) and clamps at the protocol's int32.
func TestWaitMS(t *testing.T) {
	for d, want := range map[time.Duration]int32{0: 0, -time.Second: 0, time.Microsecond: 1,
		1500 * time.Microsecond: 1, 2 * time.Second: 2000, 1000 * time.Hour: 1<<31 - 1} {
		if got := waitMS(d); got != want {
			t.Errorf("waitMS(%v) = %d, want %d", d, got, want)
		}
	}
}
