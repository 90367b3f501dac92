package reserved

import "testing"

// TestPath: the node's endpoints, below them too, and every PTP URI are
// reserved; paths beside them are not.
func TestPath(t *testing.T) {
	for _, p := range []string{"/v1/interconn/chan/push", "/v1/interconn/registry/register", "/stats", "/stats/",
		"/metrics", "/metrics/x", "/healthz", "/healthz/x", "/debug/pprof/", "/debug/pprof/heap", "/panel", "/panel/",
		"/panel/panel.js", "/org.ppc.ptp.PrivateTransferTransport/push",
		"grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push", "https://ptp.cn/v1/interconn/chan/push"} {
		if !Path(p) {
			t.Errorf("Path(%q) = false", p)
		}
	}
	for _, p := range []string{"/", "/v1/", "/v1/other", "/metricsx", "/a/stats", "/app/", "/panels"} {
		if Path(p) {
			t.Errorf("Path(%q) = true", p)
		}
	}
}

// TestCovers: a prefix covering a node endpoint names it.
func TestCovers(t *testing.T) {
	for prefix, want := range map[string]bool{"/": true, "/v1/": true, "/v1/interconn/": true, "/panel/": true,
		"/debug/": true, "/metrics/": true, "/app/": false, "/v1/other/": false} {
		if _, got := Covers(prefix); got != want {
			t.Errorf("Covers(%q) = %v, want %v", prefix, got, want)
		}
	}
}
