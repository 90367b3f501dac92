package host_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestPartnerDialects delivers to B in each form partners of other vendors
// use, as partner A over mTLS, and pops each message at B.
func TestPartnerDialects(t *testing.T) {
	_, b, aRoot := partnerWithKnownRoot(t)
	asA := dialAs(t, b, aRoot, "node-a")
	pushProto, _ := proto.Marshal(&ptp.PushInbound{Topic: "t", Payload: []byte("proto-body")})
	for _, tc := range []struct {
		name    string
		md      map[string]string
		payload []byte
		want    string
	}{
		{"bare path, topic header", map[string]string{ptp.HeaderURI: "/v1/interconn/chan/push", ptp.HeaderTopic: "t"}, []byte("bare"), "bare"},
		{"grpcs uri", map[string]string{ptp.HeaderURI: "grpcs://any.host:443/org.ppc.ptp.PrivateTransferTransport/push", ptp.HeaderTopic: "t"}, []byte("grpcs"), "grpcs"},
		{"https uri", map[string]string{ptp.HeaderURI: "https://any.host/v1/interconn/chan/push", ptp.HeaderTopic: "t"}, []byte("https"), "https"},
		{"kuscia package", map[string]string{ptp.HeaderURI: "/org.ppc.grpc_ptp.PrivateTransferTransport/push", ptp.HeaderTopic: "t"}, []byte("kuscia"), "kuscia"},
		{"FATE from-node-id", map[string]string{ptp.HeaderURI: "/v1/interconn/chan/push", ptp.HeaderTopic: "t", ptp.HeaderFromNodeID: "node-a"}, []byte("fate"), "fate"},
		{"topic in protobuf body", map[string]string{ptp.HeaderURI: "/org.ppc.ptp.PrivateTransferTransport/push"}, pushProto, "proto-body"},
		{"topic in JSON body", map[string]string{ptp.HeaderURI: "/v1/interconn/chan/push"}, []byte(`{"topic":"t","payload":"anNvbg=="}`), "json"},
		{"ms timeout", map[string]string{ptp.HeaderURI: "/v1/interconn/chan/push", ptp.HeaderTopic: "t", ptp.HeaderTimeout: "5000"}, []byte("timed"), "timed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := map[string]string{ptp.HeaderSessionID: "dialect", ptp.HeaderTargetNodeID: "node-b"}
			for k, v := range tc.md {
				md[k] = v
			}
			if _, raw := tc.md[ptp.HeaderTopic]; raw { // Mesh marks its raw payloads (issue 12)
				md[ptp.HeaderForm] = ptp.FormRaw
			}
			out, err := asA.Invoke(context.Background(), &ptp.Inbound{Metadata: md, Payload: tc.payload})
			if err != nil || out.Code != string(ptp.OK) {
				t.Fatalf("invoke: %v %s %s", err, out.GetCode(), out.GetMessage())
			}
			got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "dialect"}).Pop(t.Context(), "t", 1000)
			if code != ptp.OK || string(got) != tc.want {
				t.Fatalf("pop at B: %q %s", got, code)
			}
		})
	}
	// The HTTP form of invoke, over mTLS.
	kp, _ := pki.Issue(aRoot, "node-a", nil)
	cert, _ := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+b.Addr+"/v1/interconn/chan/invoke", bytes.NewReader([]byte("over-https")))
	for k, v := range map[string]string{ptp.HeaderURI: "/v1/interconn/chan/push", ptp.HeaderTopic: "t", ptp.HeaderSessionID: "dialect", ptp.HeaderForm: ptp.FormRaw} {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP invoke: %v %v", err, resp)
	}
	resp.Body.Close()
	if got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "dialect"}).Pop(t.Context(), "t", 1000); string(got) != "over-https" {
		t.Fatalf("pop after HTTP invoke: %q %s", got, code)
	}
}

// TestPlaintextPartnerNeedsOptInOnBothSides: an h2c:// or http:// address is
// refused unless the route allows plaintext, and the receiver accepts a
// plaintext partner only when its own route to it allows plaintext too.
func TestPlaintextPartnerNeedsOptInOnBothSides(t *testing.T) {
	a, b := pair(t, nil)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": "h2c://" + b.Addr}, ptp.BadAddress)
	for _, scheme := range []string{"h2c://", "http://"} {
		a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": scheme + b.Addr, "allow_plaintext": true}, ptp.OK)
		c := &meshtest.HTTPClient{URL: a.URL, Session: "plain", Target: "node-b"}
		b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "allow_plaintext": false}, ptp.OK)
		if code, _ := c.Push(t.Context(), "t", []byte("x")); code != ptp.Unauthorized {
			t.Fatalf("%s partner without B's opt-in: %s", scheme, code)
		}
		b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "allow_plaintext": true}, ptp.OK)
		if code, err := c.Push(t.Context(), "t", []byte(scheme)); code != ptp.OK {
			t.Fatalf("%s partner with opt-in: %s %v", scheme, code, err)
		}
		if got, _, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "plain"}).Pop(t.Context(), "t", 1000); string(got) != scheme {
			t.Fatalf("pop: %q", got)
		}
	}
}

// TestPlaintextPartnerOnlyFromItsSources: on a route that allows plaintext,
// a caller claiming to be the partner is taken for it only from the
// partner's own addresses (its route's IPs, or plaintext_from); a stranger
// elsewhere who sends the partner's id is refused.
func TestPlaintextPartnerOnlyFromItsSources(t *testing.T) {
	_, b := pair(t, nil)
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "allow_plaintext": true}, ptp.OK)
	claim := func(hc *http.Client) meshtest.Reply {
		return postWith(t, hc, b.URL+"/v1/interconn/chan/invoke", map[string]string{ptp.HeaderURI: "/v1/interconn/chan/push",
			ptp.HeaderSessionID: "plain", ptp.HeaderTopic: "t", ptp.HeaderSourceNodeID: "node-a", "Content-Type": "application/octet-stream",
			ptp.HeaderForm: ptp.FormRaw}, "claimed")
	}
	// A's route address is 127.0.0.1:PORT: a claim from 127.0.0.2 is not A.
	if r := claim(strangerHTTP(false)); r.Code != ptp.Unauthorized || !strings.Contains(r.Message, "plaintext_from") {
		t.Fatalf("claim from another address: %s", r.Body)
	}
	if r := claim(http.DefaultClient); r.Code != ptp.OK {
		t.Fatalf("claim from A's address: %s", r.Body)
	}
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "plaintext_from": []string{"127.0.0.2/32"}}, ptp.OK)
	if r := claim(strangerHTTP(false)); r.Code != ptp.OK {
		t.Fatalf("claim from a listed source: %s", r.Body)
	}
	if r := claim(http.DefaultClient); r.Code != ptp.Unauthorized {
		t.Fatalf("claim from an address no longer listed: %s", r.Body)
	}
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "plaintext_from": []string{"not-a-net"}}, ptp.BadRequest)
	for _, want := range []string{"claimed", "claimed"} {
		if got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "plain"}).Pop(t.Context(), "t", 1000); string(got) != want {
			t.Fatalf("pop: %q %s", got, code)
		}
	}
}
