package host_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// partnerWithKnownRoot starts B, and A identified with a root the test
// holds, woven with B: the test can then act as A with A's own credentials.
func partnerWithKnownRoot(t *testing.T) (a, b *meshtest.Node, aRoot pki.KeyPair) {
	t.Helper()
	aRoot, err := pki.NewRoot("node-a root")
	if err != nil {
		t.Fatal(err)
	}
	a, b = meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Control(t, "/v1/interconn/node/refresh", map[string]string{"node_id": "node-a", "inst_id": "inst-a",
		"root_crt": string(aRoot.CertPEM), "root_key": string(aRoot.KeyPEM)}, ptp.OK)
	a.ID, a.Inst = "node-a", "inst-a"
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)
	return a, b, aRoot
}

// dialAs connects to node b over mTLS with a certificate for nodeID issued
// by root.
func dialAs(t *testing.T, b *meshtest.Node, root pki.KeyPair, nodeID string) ptp.PrivateTransferProtocolClient {
	t.Helper()
	cc, err := grpc.NewClient(b.Addr, grpc.WithTransportCredentials(credentials.NewTLS(partnerTLS(t, b, root, nodeID))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return ptp.NewPrivateTransferProtocolClient(cc)
}

func invoke(t *testing.T, c ptp.PrivateTransferProtocolClient, uri, source string, payload []byte) *ptp.Outbound {
	t.Helper()
	// A raw payload, marked as Mesh marks its own deliveries (issue 12).
	md := map[string]string{ptp.HeaderURI: uri, ptp.HeaderSessionID: "s", ptp.HeaderTopic: "t", ptp.HeaderTargetNodeID: "node-b", ptp.HeaderForm: ptp.FormRaw}
	if source != "" {
		md[ptp.HeaderSourceNodeID] = source
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.Invoke(metadata.NewOutgoingContext(ctx, metadata.New(md)), &ptp.Inbound{Metadata: md, Payload: payload})
	if err != nil {
		t.Fatalf("invoke %s: %v", uri, err)
	}
	return out
}

func TestPartnerMayOnlyDeliver(t *testing.T) {
	_, b, aRoot := partnerWithKnownRoot(t)
	asA := dialAs(t, b, aRoot, "node-a")
	if out := invoke(t, asA, "/org.ppc.ptp.PrivateTransferTransport/push", "node-a", []byte("hi")); out.Code != string(ptp.OK) {
		t.Fatalf("partner push: %s %s", out.Code, out.Message)
	}
	for _, m := range []string{"pop", "peek", "release"} {
		out := invoke(t, asA, "/org.ppc.ptp.PrivateTransferTransport/"+m, "", nil)
		if out.Code != string(ptp.NotPermitted) {
			t.Errorf("partner %s: want %s, got %s %s", m, ptp.NotPermitted, out.Code, out.Message)
		}
	}
	// The pushed message is still there for B's own container.
	got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "s"}).Pop(t.Context(), "t", 1000)
	if code != ptp.OK || string(got) != "hi" {
		t.Fatalf("B's container pop: %q %s", got, code)
	}
}

func TestSpoofedSourceIsRefused(t *testing.T) {
	_, b, aRoot := partnerWithKnownRoot(t)
	asA := dialAs(t, b, aRoot, "node-a")
	for _, h := range []string{ptp.HeaderSourceNodeID, ptp.HeaderFromNodeID} {
		md := map[string]string{ptp.HeaderURI: "/v1/interconn/chan/push", ptp.HeaderSessionID: "s", ptp.HeaderTopic: "t", ptp.HeaderForm: ptp.FormRaw, h: "node-c"}
		out, err := asA.Invoke(context.Background(), &ptp.Inbound{Metadata: md, Payload: []byte("x")})
		if err != nil || out.Code != string(ptp.Unauthorized) {
			t.Errorf("%s spoofed: %v %s %s", h, err, out.GetCode(), out.GetMessage())
		}
	}
	// A container inside B claiming to be partner A, without A's certificate.
	r := meshtest.Post(t, b.URL, "/v1/interconn/chan/push", meshtest.Session("s", ptp.HeaderSourceNodeID, "node-a", ptp.HeaderTopic, "t"),
		map[string]any{"payload": []byte("x")})
	if r.Code != ptp.Unauthorized {
		t.Fatalf("plaintext claim to be a partner: %s", r.Body)
	}
}

func TestWrongRootIsRefused(t *testing.T) {
	_, b, _ := partnerWithKnownRoot(t)
	other, err := pki.NewRoot("impostor root")
	if err != nil {
		t.Fatal(err)
	}
	out := invoke(t, dialAs(t, b, other, "node-a"), "/v1/interconn/chan/push", "", []byte("x"))
	if out.Code != string(ptp.CertificateError) {
		t.Fatalf("certificate from a wrong root: %s %s", out.Code, out.Message)
	}
}

func TestUnwovenNodeIsRefused(t *testing.T) {
	_, b := pair(t, nil)
	// C trusts B's public root without B's consent, and tries to deliver.
	c := meshtest.Start(t, host.Config{})
	c.Identify(t, "node-c", "inst-c")
	c.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": b.Addr,
		"guest_root": b.Public(t).RootCrt, "allow_plaintext": false}, ptp.OK)
	code, _ := (&meshtest.HTTPClient{URL: c.URL, Session: "s", Target: "node-b"}).Push(t.Context(), "t", []byte("x"))
	if code != ptp.NotWoven {
		t.Fatalf("unwoven node's push: %s", code)
	}
	// And a node C never heard of is not woven here either.
	if code, _ := (&meshtest.HTTPClient{URL: c.URL, Session: "s", Target: "node-x"}).Push(t.Context(), "t", []byte("x")); code != ptp.NotWoven {
		t.Fatalf("push to an unknown node: %s", code)
	}
}

func TestPartnerCannotUseControlEndpoints(t *testing.T) {
	a, b, aRoot := partnerWithKnownRoot(t)
	_ = a
	kp, _ := pki.Issue(aRoot, "node-a", nil)
	cert, _ := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}}
	for _, path := range []string{"/v1/interconn/node", "/v1/interconn/net"} {
		resp, err := hc.Get("https://" + b.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("partner GET %s: %d", path, resp.StatusCode)
		}
	}
}

// TestHandshakeRunsOverTLSEvenToPlaintextAddress: a route with a plaintext
// (opt-in) address still weaves over TLS: a recorder on the path sees a TLS
// record and none of the handshake's text. (That the handshake carries no
// private key is checked in the clear by TestMITMCodesDiffer.)
func TestHandshakeRunsOverTLSEvenToPlaintextAddress(t *testing.T) {
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	rec := meshtest.Record(t, b.Addr)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": "http://" + rec.Addr, "allow_plaintext": true}, ptp.OK)
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK)
	seen := rec.Bytes()
	if len(seen) == 0 || seen[0] != 0x16 || bytes.Contains(seen, []byte("BEGIN CERTIFICATE")) || bytes.Contains(seen, []byte("root_crt")) {
		t.Fatalf("handshake was not TLS (%d bytes): %.200q", len(seen), seen)
	}
}
