package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestInvokeDialects drives PrivateTransferProtocol.invoke with each x-ptp-uri
// form met in the field and checks the message reaches the local queue.
func TestInvokeDialects(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc := meshtest.Dial(t, n.Addr)
	proto3 := func(topic, payload string) []byte {
		b, _ := proto.Marshal(&ptp.PushInbound{Topic: topic, Payload: []byte(payload)})
		return b
	}
	jsonBody := func(field, topic, payload string) []byte {
		b, _ := json.Marshal(map[string]any{"topic": topic, field: []byte(payload)})
		return b
	}
	cases := []struct {
		name    string
		uri     string
		extra   map[string]string
		payload func(topic string) []byte
	}{
		{"bare grpc path", "/org.ppc.ptp.PrivateTransferTransport/push", nil, func(tp string) []byte { return proto3(tp, "m") }},
		{"grpcs url", "grpcs://any-host:9443/org.ppc.ptp.PrivateTransferTransport/push", nil, func(tp string) []byte { return proto3(tp, "m") }},
		{"kuscia package", "/org.ppc.grpc_ptp.PrivateTransferTransport/push", nil, func(tp string) []byte { return proto3(tp, "m") }},
		{"https url, json payload", "https://any-host/v1/interconn/chan/push", nil, func(tp string) []byte { return jsonBody("payload", tp, "m") }},
		{"bare http path, json content", "/v1/interconn/chan/push", nil, func(tp string) []byte { return jsonBody("content", tp, "m") }},
		// Mesh's own raw deliveries name their form (x-mesh-form: raw): with
		// x-ptp-topic alone an HTTP-form x-ptp-uri means a JSON payload.
		{"topic in header, raw payload", "/v1/interconn/chan/push", map[string]string{ptp.HeaderTopic: "", ptp.HeaderForm: ptp.FormRaw}, func(string) []byte { return []byte("m") }},
	}
	for i, c := range cases {
		topic := fmt.Sprintf("dialect-%d", i)
		md := map[string]string{ptp.HeaderURI: c.uri, ptp.HeaderSessionID: "d"}
		for k, v := range c.extra {
			if v == "" {
				v = topic
			}
			md[k] = v
		}
		for _, via := range []string{"grpc-invoke", "http-invoke", "grpc-headers"} {
			t.Run(c.name+"/"+via, func(t *testing.T) {
				var code string
				switch via {
				case "grpc-invoke": // headers in Inbound.metadata
					out, err := ptp.NewPrivateTransferProtocolClient(cc).Invoke(context.Background(), &ptp.Inbound{Metadata: md, Payload: c.payload(topic)})
					if err != nil {
						t.Fatal(err)
					}
					code = out.Code
				case "grpc-headers": // headers as gRPC metadata
					ctx := metadata.NewOutgoingContext(context.Background(), metadata.New(md))
					out, err := ptp.NewPrivateTransferProtocolClient(cc).Invoke(ctx, &ptp.Inbound{Payload: c.payload(topic)})
					if err != nil {
						t.Fatal(err)
					}
					code = out.Code
				case "http-invoke":
					code = string(meshtest.Post(t, n.URL, "/v1/interconn/chan/invoke", md, c.payload(topic)).Code)
				}
				if code != string(ptp.OK) {
					t.Fatalf("invoke: %s", code)
				}
				got := mustPop(t, meshtest.NewGRPCClient(cc, "d"), topic)
				if string(got) != "m" {
					t.Fatalf("popped %q", got)
				}
			})
		}
	}
}

// TestInvokePopAndPeek checks invoke reaches every container method.
func TestInvokePopAndPeek(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc := meshtest.Dial(t, n.Addr)
	mustPush(t, meshtest.NewGRPCClient(cc, "ip"), "t", []byte("v"))
	pc := ptp.NewPrivateTransferProtocolClient(cc)
	for _, uri := range []string{"/v1/interconn/chan/peek", "/org.ppc.ptp.PrivateTransferTransport/pop"} {
		body := []byte(`{"topic":"t"}`)
		if uri[1] == 'o' {
			body, _ = proto.Marshal(&ptp.PopInbound{Topic: "t", Timeout: 1000})
		}
		out, err := pc.Invoke(context.Background(), &ptp.Inbound{Payload: body,
			Metadata: map[string]string{ptp.HeaderURI: uri, ptp.HeaderSessionID: "ip"}})
		if err != nil || out.Code != string(ptp.OK) || string(out.Payload) != "v" {
			t.Fatalf("%s: %v %v", uri, out, err)
		}
	}
}

// TestTransportStreamKeepsOrder pushes over one transport stream.
func TestTransportStreamKeepsOrder(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc := meshtest.Dial(t, n.Addr)
	st, err := ptp.NewPrivateTransferProtocolClient(cc).Transport(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const count = 200
	go func() {
		for i := range count {
			_ = st.Send(&ptp.Inbound{Payload: fmt.Appendf(nil, "%d", i), Metadata: map[string]string{
				ptp.HeaderURI: "/v1/interconn/chan/push", ptp.HeaderSessionID: "st", ptp.HeaderTopic: "t", ptp.HeaderForm: ptp.FormRaw}})
		}
		_ = st.CloseSend()
	}()
	for range count {
		out, err := st.Recv()
		if err != nil || out.Code != string(ptp.OK) {
			t.Fatalf("transport reply: %v %v", out, err)
		}
	}
	c := meshtest.NewGRPCClient(cc, "st")
	for i := range count {
		if got := mustPop(t, c, "t"); string(got) != fmt.Sprint(i) {
			t.Fatalf("#%d: got %q", i, got)
		}
	}
}

// TestContainerDialects covers the container API's variants: Kuscia's
// package name, headers inside the request's metadata, and the header topic
// overriding the body's.
func TestContainerDialects(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc := meshtest.Dial(t, n.Addr)
	// Kuscia's org.ppc.grpc_ptp package.
	out := new(ptp.TransportOutbound)
	ctx := metadata.AppendToOutgoingContext(context.Background(), ptp.HeaderSessionID, "k")
	if err := cc.Invoke(ctx, "/org.ppc.grpc_ptp.PrivateTransferTransport/push", &ptp.PushInbound{Topic: "t", Payload: []byte("kuscia")}, out); err != nil || out.Code != string(ptp.OK) {
		t.Fatalf("kuscia push: %v %v", out, err)
	}
	if err := cc.Invoke(ctx, "/org.ppc.grpc_ptp.PrivateTransferTransport/pop", &ptp.PopInbound{Topic: "t", Timeout: 1000}, out); err != nil || string(out.Payload) != "kuscia" {
		t.Fatalf("kuscia pop: %v %v", out, err)
	}
	// Session id inside PushInbound.metadata, no gRPC header.
	tc := ptp.NewPrivateTransferTransportClient(cc)
	if out, err := tc.Push(context.Background(), &ptp.PushInbound{Topic: "t", Payload: []byte("m"), Metadata: map[string]string{"X-PTP-Session-ID": "inmeta"}}); err != nil || out.Code != string(ptp.OK) {
		t.Fatalf("session in metadata: %v %v", out, err)
	}
	if got := mustPop(t, meshtest.NewGRPCClient(cc, "inmeta"), "t"); string(got) != "m" {
		t.Fatalf("got %q", got)
	}
	// x-ptp-topic overrides the body's topic.
	r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", meshtest.Session("h", ptp.HeaderTopic, "from-header"), map[string]any{"topic": "from-body", "payload": []byte("x")})
	if r.Code != ptp.OK {
		t.Fatal(r)
	}
	if got := mustPop(t, &meshtest.HTTPClient{URL: n.URL, Session: "h"}, "from-header"); string(got) != "x" {
		t.Fatalf("got %q", got)
	}
}
