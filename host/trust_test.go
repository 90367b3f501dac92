package host_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestPartnerCannotRelay: a partner may deliver only to the node it calls,
// never through it to a third node, even one that node is woven with.
func TestPartnerCannotRelay(t *testing.T) {
	_, b, aRoot := partnerWithKnownRoot(t)
	c := meshtest.Start(t, host.Config{})
	c.Identify(t, "node-c", "inst-c")
	meshtest.Weave(t, b, c, nil)
	asA := dialAs(t, b, aRoot, "node-a")
	md := map[string]string{ptp.HeaderURI: "/org.ppc.ptp.PrivateTransferTransport/push", ptp.HeaderSessionID: "s",
		ptp.HeaderTopic: "t", ptp.HeaderTargetNodeID: "node-c"}
	for _, target := range []map[string]string{{ptp.HeaderTargetNodeID: "node-c"}, {ptp.HeaderTargetInstID: "inst-c"}} {
		m := map[string]string{ptp.HeaderURI: md[ptp.HeaderURI], ptp.HeaderSessionID: "s", ptp.HeaderTopic: "t", ptp.HeaderForm: ptp.FormRaw}
		for k, v := range target {
			m[k] = v
		}
		out, err := asA.Invoke(t.Context(), &ptp.Inbound{Metadata: m, Payload: []byte("relayed")})
		if err != nil || out.Code != string(ptp.NotPermitted) {
			t.Fatalf("relay via %v: %v %v", target, err, out)
		}
	}
	if got, code, _ := (&meshtest.HTTPClient{URL: c.URL, Session: "s"}).Peek(t.Context(), "t"); code != ptp.OK || len(got) != 0 {
		t.Fatalf("C received %q (%s)", got, code)
	}
}

// TestForwardOverHTTPS: a partner reached at an https:// address gets the
// HTTP invoke form over mTLS.
func TestForwardOverHTTPS(t *testing.T) {
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, map[string]any{"address": "https://" + b.Addr})
	for i, p := range []string{"one", "two"} {
		if code, err := (&meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}).Push(t.Context(), "t", []byte(p)); code != ptp.OK {
			t.Fatalf("push %d over https: %s %v", i, code, err)
		}
	}
	for _, p := range []string{"one", "two"} {
		if got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "s"}).Pop(t.Context(), "t", 2000); code != ptp.OK || string(got) != p {
			t.Fatalf("pop at B: %q %s", got, code)
		}
	}
	if s := a.Host.NetworkStats(); s.Forwarded < 2 {
		t.Fatalf("A's forwarding stats: %+v", s)
	}
}

// TestPinnedCertificates: a route may pin the partner's exact certificate
// instead of trusting its root, both ways; another certificate, even from
// the same root, is refused.
func TestPinnedCertificates(t *testing.T) {
	aRoot, err := pki.NewRoot("node-a root")
	if err != nil {
		t.Fatal(err)
	}
	a, b := meshtest.Start(t, host.Config{ForwardRetry: 500 * time.Millisecond}), meshtest.Start(t, host.Config{})
	a.Control(t, "/v1/interconn/node/refresh", map[string]string{"node_id": "node-a", "inst_id": "inst-a",
		"root_crt": string(aRoot.CertPEM), "root_key": string(aRoot.KeyPEM)}, ptp.OK)
	a.ID = "node-a"
	b.Identify(t, "node-b", "inst-b")
	// Each side pins the other's serving certificate.
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": b.Addr, "guest_crt": b.Public(t).Crt}, ptp.OK)
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "guest_crt": a.Public(t).Crt}, ptp.OK)
	push := &meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}
	if code, err := push.Push(t.Context(), "t", []byte("pinned")); code != ptp.OK {
		t.Fatalf("push between pinned partners: %s %v", code, err)
	}
	if got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "s"}).Pop(t.Context(), "t", 2000); string(got) != "pinned" {
		t.Fatalf("pop at B: %q %s", got, code)
	}
	// Another certificate for node-a from A's own root is not the pinned one.
	if out := invoke(t, dialAs(t, b, aRoot, "node-a"), "/v1/interconn/chan/push", "", []byte("x")); out.Code == string(ptp.OK) {
		t.Fatalf("an unpinned certificate of node-a was admitted: %s", out.Message)
	}
	// A pinning a certificate B does not serve cannot reach B.
	other, _ := pki.NewRoot("other root")
	kp, _ := pki.Issue(other, "node-b", nil)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "guest_crt": string(kp.CertPEM)}, ptp.OK)
	if code, _ := push.Push(t.Context(), "t", []byte("to an impostor?")); code == ptp.OK {
		t.Fatal("push succeeded though B serves a certificate other than the pinned one")
	}
	if got, _, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "s"}).Peek(t.Context(), "t"); len(got) != 0 {
		t.Fatalf("B received %q", got)
	}
}

// TestTLS12OnlyAEAD: the port refuses TLS 1.2 suites without an AEAD
// (CBC with SHA-1) and accepts the AEAD ones.
func TestTLS12OnlyAEAD(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	n.Identify(t, "node-n", "inst-n")
	for _, tc := range []struct {
		suite uint16
		ok    bool
	}{
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
	} {
		c, err := tls.Dial("tcp", n.Addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tc.suite}})
		if err == nil {
			c.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want ok=%v", tls.CipherSuiteName(tc.suite), err, tc.ok)
		}
	}
}

// TestStatsShowOperatorsOnly: /stats answers 200 to anyone (probes use it),
// but only operators see the node's figures; a partner sees none.
func TestStatsShowOperatorsOnly(t *testing.T) {
	_, b, aRoot := partnerWithKnownRoot(t)
	kp, _ := pki.Issue(aRoot, "node-a", nil)
	cert, _ := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}}
	resp, err := hc.Get("https://" + b.Addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Content map[string]any `json:"content"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("partner /stats: %d %v", resp.StatusCode, err)
	}
	if len(got.Content) != 1 || got.Content["serving"] != true {
		t.Fatalf("partner saw: %v", got.Content)
	}
	var full map[string]any
	meshtest.Get(t, b.URL+"/stats").Decode(t, &full)
	if full["node_id"] != "node-b" || full["plugins"] == nil {
		t.Fatalf("operator saw: %v", full)
	}
}
