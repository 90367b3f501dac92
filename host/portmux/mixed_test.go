//lint:file-ignore SA1019 these tests speak h2c with prior knowledge and custom dialling through x/net/http2 on purpose.

package portmux

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/ptp"
)

// mirror answers a push with its payload, and says in the message which
// TLS peer its connection came from, as the HTTP server's ConnContext saw it.
type mirror struct {
	ptp.UnimplementedPrivateTransferTransportServer
}

func (mirror) Push(ctx context.Context, in *ptp.PushInbound) (*ptp.TransportOutbound, error) {
	return &ptp.TransportOutbound{Code: string(ptp.OK), Payload: in.Payload, Message: peerOf(ctx)}, nil
}

// serveMixed runs a mux with grpc-go on its gRPC listener and, on its
// HTTP listener, an HTTP server whose handler is Mixed: gRPC to the same
// grpc.Server, anything else echoed with the peer in X-Peer.
func serveMixed(tb testing.TB, tlsConf *tls.Config) (string, *Mux) {
	return serveMixedWith(tb, tlsConf, mirror{})
}

// serveMixedWith is serveMixed with svc as the gRPC service.
func serveMixedWith(tb testing.TB, tlsConf *tls.Config, svc ptp.PrivateTransferTransportServer) (string, *Mux) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	m := New(ln)
	m.TLS = tlsConf
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	ptp.RegisterPrivateTransferTransportServer(gs, svc)
	echoHTTP := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Peer", peerOf(r.Context()))
		_, _ = io.Copy(w, r.Body)
	})
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: Mixed(gs, echoHTTP), Protocols: p,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return withPeer(ctx, TLSState(c)) }}
	go func() { _ = m.Serve() }()
	go func() { _ = gs.Serve(m.GRPC()) }()
	go func() { _ = hs.Serve(m.HTTP()) }()
	tb.Cleanup(func() { _ = m.Close(); gs.Stop(); _ = hs.Close() })
	return ln.Addr().String(), m
}

// h2cTransport is one plaintext HTTP/2 connection with prior knowledge.
func h2cTransport() *http2.Transport {
	return &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

// grpcPush makes one hand-framed unary push call and returns the reply.
func grpcPush(tb testing.TB, hc *http.Client, url, agent string, payload []byte) *ptp.TransportOutbound {
	tb.Helper()
	msg, _ := proto.Marshal(&ptp.PushInbound{Topic: "t", Payload: payload})
	body := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg))), msg...)
	req, _ := http.NewRequest(http.MethodPost, url+"/org.ppc.ptp.PrivateTransferTransport/push", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", agent)
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "0" || len(b) < 5 {
		tb.Fatalf("grpc push: %d %q %q %v", resp.StatusCode, resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message"), err)
	}
	out := new(ptp.TransportOutbound)
	if err := proto.Unmarshal(b[5:], out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// httpEcho posts payload as JSON and returns the echoed body and peer.
func httpEcho(tb testing.TB, hc *http.Client, url string, payload []byte) ([]byte, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/interconn/chan/push", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		tb.Fatalf("http: %d %s %v", resp.StatusCode, b, err)
	}
	return b, resp.Header.Get("X-Peer")
}

// TestMixedConnectionRoutesPerRequest: gRPC and HTTP alternate on one
// HTTP/2 connection, plaintext or TLS, whichever comes first; each reaches
// its server byte-exact and sees its connection's peer.
func TestMixedConnectionRoutesPerRequest(t *testing.T) {
	client := selfSigned(t, "node-a")
	tlsConf := &tls.Config{Certificates: []tls.Certificate{selfSigned(t, "server")}, ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"h2", "http/1.1"}}
	for _, tc := range []struct {
		name      string
		tls       bool
		grpcFirst bool
		agent     string
		wantPeer  string
	}{
		{"h2c grpc first", false, true, "Go-http-client/2.0", "plaintext"},
		{"h2c http first", false, false, "Go-http-client/2.0", "plaintext"},
		{"h2c grpc first, proxied grpc-go", false, true, "grpc-go/1.60.1", "plaintext"}, // with X-Forwarded-For below
		{"tls grpc first", true, true, "Go-http-client/2.0", "node-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, m := serveMixed(t, tlsConf)
			tr, url := h2cTransport(), "http://"+addr
			if tc.tls {
				tr = &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{client}}}
				url = "https://" + addr
			}
			hc := &http.Client{Transport: forwarded{tr}}
			for i := range 6 {
				p := []byte(fmt.Sprintf("call %d \x00\xff", i))
				if (i%2 == 0) == tc.grpcFirst {
					if out := grpcPush(t, hc, url, tc.agent, p); !bytes.Equal(out.Payload, p) || out.Message != tc.wantPeer {
						t.Fatalf("grpc call %d: %q from %q", i, out.Payload, out.Message)
					}
				} else if got, peer := httpEcho(t, hc, url, p); !bytes.Equal(got, p) || peer != tc.wantPeer {
					t.Fatalf("http call %d: %q from %q", i, got, peer)
				}
			}
			if r := m.Routes(); r != (Routes{H2: 1}) {
				t.Fatalf("routes %+v, want one mixed HTTP/2 connection", r)
			}
		})
	}
}

// forwarded adds the headers a proxy (Traefik) adds to what it forwards.
type forwarded struct{ rt http.RoundTripper }

func (f forwarded) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", "127.0.0.9")
	return f.rt.RoundTrip(r)
}

// TestGRPCLibraryGetsNativeTransport: grpc-go's own client, and a gRPC
// library sending its first request at once (gRPC core: grpc-python,
// grpc-c), are served by grpc-go's native transport.
func TestGRPCLibraryGetsNativeTransport(t *testing.T) {
	addr, m := serveMixed(t, nil)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	out, err := ptp.NewPrivateTransferTransportClient(cc).Push(context.Background(), &ptp.PushInbound{Payload: []byte("go")})
	if err != nil || string(out.Payload) != "go" {
		t.Fatalf("grpc-go push: %v %v", out, err)
	}
	hc := &http.Client{Transport: h2cTransport()}
	if out := grpcPush(t, hc, "http://"+addr, "grpc-python/1.62.0 grpc-c/39.0.0 (linux; chttp2)", []byte("py")); string(out.Payload) != "py" {
		t.Fatalf("grpc-python push: %q", out.Payload)
	}
	if r := m.Routes(); r != (Routes{Native: 2}) {
		t.Fatalf("routes %+v, want two native connections", r)
	}
}
