package host_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// forged is reserved metadata a sender tries to slip into a message: who
// sent it, and the code and message of the reply that pops it.
var forged = map[string]string{
	ptp.HeaderSourceNodeID: "node-c", ptp.HeaderSourceInstID: "inst-c", ptp.HeaderSender: "container",
	ptp.HeaderCode: string(ptp.SystemError), ptp.HeaderMessage: "forged", "x-mesh-message-id": "forged-id",
	"label": "kept",
}

// TestForgedProvenanceIsNotHonoured: a woven partner (and a container)
// pushing reserved metadata cannot change who the popped message says sent
// it, nor the code or message of the reply that pops it.
func TestForgedProvenanceIsNotHonoured(t *testing.T) {
	_, b, aRoot := partnerWithKnownRoot(t)
	asA := dialAs(t, b, aRoot, "node-a")
	inner, err := proto.Marshal(&ptp.PushInbound{Topic: "t", Payload: []byte("from a"), Metadata: forged})
	if err != nil {
		t.Fatal(err)
	}
	md := map[string]string{ptp.HeaderURI: "grpcs://b/org.ppc.ptp.PrivateTransferTransport/push", ptp.HeaderSessionID: "s",
		ptp.HeaderTargetNodeID: "node-b", ptp.HeaderSourceNodeID: "node-a"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := asA.Invoke(ctx, &ptp.Inbound{Metadata: md, Payload: inner}); err != nil || out.Code != string(ptp.OK) {
		t.Fatalf("partner push: %v %v", err, out)
	}
	// B's own container pushes the same forgery.
	r := meshtest.Post(t, b.URL, "/v1/interconn/chan/push", meshtest.Session("s"),
		map[string]any{"topic": "t", "payload": []byte("from b's container"), "metadata": forged})
	if r.Code != ptp.OK {
		t.Fatalf("container push: %s", r.Body)
	}

	for _, want := range []struct{ payload, node, inst, sender string }{
		{"from a", "node-a", "inst-a", "partner"},
		{"from b's container", "node-b", "inst-b", "container"},
	} {
		hdr, body := rawPop(t, b.URL, "s", "t")
		if body != want.payload {
			t.Fatalf("popped %q, want %q", body, want.payload)
		}
		for k, v := range map[string]string{ptp.HeaderCode: string(ptp.OK), ptp.HeaderMessage: "ok",
			ptp.HeaderSourceNodeID: want.node, ptp.HeaderSourceInstID: want.inst, ptp.HeaderSender: want.sender, "label": ""} {
			if got := hdr.Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", want.payload, k, got, v)
			}
		}
		if hdr.Get(ptp.HeaderMessageID) == "forged-id" {
			t.Errorf("%s: the message id came from the metadata", want.payload)
		}
	}
	// Over JSON the message's own metadata is kept, the reserved set anew.
	if r := meshtest.Post(t, b.URL, "/v1/interconn/chan/push", meshtest.Session("s"),
		map[string]any{"topic": "j", "payload": []byte("x"), "metadata": forged}); r.Code != ptp.OK {
		t.Fatal(r.Body)
	}
	p := meshtest.Post(t, b.URL, "/v1/interconn/chan/pop", meshtest.Session("s"), map[string]any{"topic": "j", "timeout": 1000})
	if p.Code != ptp.OK || p.Metadata["label"] != "kept" || p.Metadata[ptp.HeaderSourceNodeID] != "node-b" ||
		p.Metadata[ptp.HeaderCode] != "" || p.Metadata[ptp.HeaderMessage] != "" {
		t.Fatalf("JSON pop: %s", p.Body)
	}
}

// rawPop pops one message as raw bytes and returns the reply's headers.
func rawPop(t *testing.T, url, session, topic string) (http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/interconn/chan/pop", strings.NewReader(`{"timeout":2000}`))
	req.Header.Set(ptp.HeaderSessionID, session)
	req.Header.Set(ptp.HeaderTopic, topic)
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Header, string(b)
}
