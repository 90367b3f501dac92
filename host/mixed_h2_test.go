//lint:file-ignore SA1019 these tests speak h2c with prior knowledge and custom dialling through x/net/http2 on purpose.

package host_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// h2cConn is one plaintext HTTP/2 connection with prior knowledge, as the
// older Go Mesh's proxy pools per partner: Go's http2.Transport with
// AllowHTTP and a DialTLSContext that dials plain TCP.
type h2cConn struct {
	url     string
	hc      *http.Client
	dials   atomic.Int32
	headers map[string]string // sent on every request
}

func newH2C(url string, headers map[string]string) *h2cConn {
	c := &h2cConn{url: url, headers: headers}
	c.hc = &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			c.dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
	return c
}

func (c *h2cConn) request(t *testing.T, path, contentType string, body []byte, session string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(ptp.HeaderSessionID, session)
	return req
}

// grpcCall sends one hand-framed unary gRPC call of PrivateTransferTransport.
func (c *h2cConn) grpcCall(t *testing.T, method, session string, in proto.Message) *ptp.TransportOutbound {
	t.Helper()
	msg, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	frame := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	req := c.request(t, "/org.ppc.ptp.PrivateTransferTransport/"+method, "application/grpc", append(frame, msg...), session)
	req.Header.Set("Te", "trailers")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("grpc %s: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "0" || len(b) < 5 {
		t.Fatalf("grpc %s: status %d, grpc-status %q (%s), %d bytes, %v", method, resp.StatusCode,
			resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message"), len(b), err)
	}
	out := new(ptp.TransportOutbound)
	if err := proto.Unmarshal(b[5:], out); err != nil {
		t.Fatalf("grpc %s reply: %v", method, err)
	}
	return out
}

// httpCall sends one JSON request of the HTTP container API.
func (c *h2cConn) httpCall(t *testing.T, path, session string, body any) meshtest.Reply {
	t.Helper()
	raw, _ := json.Marshal(body)
	r := meshtest.Do(t, c.hc, c.request(t, path, "application/json", raw, session))
	if r.Status != 200 {
		t.Fatalf("http %s: %+v", path, r)
	}
	return r
}

func (c *h2cConn) push(t *testing.T, viaGRPC bool, session, topic string, p []byte) {
	t.Helper()
	if viaGRPC {
		if out := c.grpcCall(t, "push", session, &ptp.PushInbound{Topic: topic, Payload: p}); out.Code != string(ptp.OK) {
			t.Fatalf("grpc push: %s %s", out.Code, out.Message)
		}
		return
	}
	if r := c.httpCall(t, "/v1/interconn/chan/push", session, map[string]any{"topic": topic, "payload": p}); r.Code != ptp.OK {
		t.Fatalf("http push: %+v", r)
	}
}

func (c *h2cConn) pop(t *testing.T, viaGRPC bool, session, topic string) []byte {
	t.Helper()
	if viaGRPC {
		out := c.grpcCall(t, "pop", session, &ptp.PopInbound{Topic: topic, Timeout: 10000})
		if out.Code != string(ptp.OK) {
			t.Fatalf("grpc pop: %s %s", out.Code, out.Message)
		}
		return out.Payload
	}
	r := c.httpCall(t, "/v1/interconn/chan/pop", session, map[string]any{"topic": topic, "timeout": 10000})
	if r.Code != ptp.OK {
		t.Fatalf("http pop: %+v", r)
	}
	return r.Bytes()
}

// TestMixedGRPCAndHTTPOnOneH2CConnection: one plaintext HTTP/2 connection
// carries gRPC and JSON calls alternately, whichever comes first — also
// when the gRPC calls come as the older Mesh's proxy forwards them (its
// container's grpc-go user-agent, Traefik's forwarding headers). Every
// message pops byte-exact.
func TestMixedGRPCAndHTTPOnOneH2CConnection(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	proxied := map[string]string{"User-Agent": "grpc-go/1.60.1", "X-Forwarded-For": "127.0.0.1",
		"X-Forwarded-Host": "ptp.cn", "X-Forwarded-Proto": "http", "X-Forwarded-Server": "mesh", "X-Real-Ip": "127.0.0.1"}
	for _, tc := range []struct {
		name      string
		grpcFirst bool
		headers   map[string]string
	}{
		{"grpc first", true, nil},
		{"http first", false, nil},
		{"grpc first via older mesh proxy", true, proxied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newH2C(n.URL, tc.headers)
			session := fmt.Sprintf("mixed-%t-%d", tc.grpcFirst, len(tc.headers))
			for i := range 6 {
				viaGRPC := (i%2 == 0) == tc.grpcFirst
				p := make([]byte, 1+i*1000)
				_, _ = rand.Read(p)
				c.push(t, viaGRPC, session, "t", p)
				if got := c.pop(t, !viaGRPC, session, "t"); !bytes.Equal(got, p) {
					t.Fatalf("call %d: popped %d bytes, pushed %d, not the same", i, len(got), len(p))
				}
			}
			if d := c.dials.Load(); d != 1 {
				t.Fatalf("%d connections dialled, want the one", d)
			}
		})
	}
}

// TestGRPCClientKeepsNativeTransport: a grpc-go client's connection is
// still served by grpc-go's native transport, not the mixed path. (grpc-go
// waits for the server's SETTINGS before its first request, so the mux
// sends them and commits the connection to the native transport, whatever
// its user-agent; gRPC-core clients, which do not wait, are judged by their
// first request: see portmux TestRouting.)
func TestGRPCClientKeepsNativeTransport(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	before := n.Host.Routes()
	c := meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "native")
	mustPush(t, c, "t", []byte("via grpc-go"))
	if got := mustPop(t, c, "t"); string(got) != "via grpc-go" {
		t.Fatalf("popped %q", got)
	}
	after := n.Host.Routes()
	if native, mixed := after.Native-before.Native, after.H2-before.H2; native != 1 || mixed != 0 {
		t.Fatalf("grpc-go connections: native %d, mixed %d; want 1, 0", native, mixed)
	}
}

// TestMixedGRPCKeepsContainerAdmission: a gRPC call served on the mixed
// path still knows its connection, so container admission applies: from a
// network not admitted it is refused, with the container token admitted.
func TestMixedGRPCKeepsContainerAdmission(t *testing.T) {
	n := meshtest.Start(t, host.Config{ContainerNets: []string{"10.99.0.0/16"}, ContainerToken: "c0ntainer-t0ken"})
	c := newH2C(n.URL, nil)
	if out := c.grpcCall(t, "push", "adm", &ptp.PushInbound{Topic: "t", Payload: []byte("x")}); out.Code != string(ptp.Unauthorized) {
		t.Fatalf("push from a network not admitted, on the mixed path: %s %s", out.Code, out.Message)
	}
	c.headers = map[string]string{"Authorization": "Bearer c0ntainer-t0ken"}
	c.push(t, true, "adm", "t", []byte("admitted"))
	if got := c.pop(t, false, "adm", "t"); string(got) != "admitted" {
		t.Fatalf("popped %q", got)
	}
}
