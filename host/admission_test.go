package host_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// from127002 dials from 127.0.0.2: another machine, as far as a node
// admitting containers from 127.0.0.1/32 only is concerned.
var from127002 = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}

// strangerHTTP is an HTTP client calling from 127.0.0.2, in plaintext, or
// over TLS without a client certificate when tlsToo.
func strangerHTTP(tlsToo bool) *http.Client {
	tr := &http.Transport{DialContext: from127002.DialContext}
	if tlsToo {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// strangerGRPC is a PrivateTransferTransport client calling from 127.0.0.2.
func strangerGRPC(t *testing.T, addr string, creds credentials.TransportCredentials) ptp.PrivateTransferTransportClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return from127002.DialContext(ctx, "tcp", a) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return ptp.NewPrivateTransferTransportClient(cc)
}

// TestContainerAdmission: a caller without a partner certificate reaches
// the container API only from an admitted network or with the container
// token — over HTTP and gRPC, in plaintext and over TLS without a client
// certificate (a partner that leaves its certificate out).
func TestContainerAdmission(t *testing.T) {
	b := meshtest.Start(t, host.Config{ContainerNets: []string{"127.0.0.1/32"}, ContainerToken: "c0ntainer-t0ken"})
	b.Identify(t, "node-b", "inst-b")
	// B's own container, on an admitted network, stores a secret.
	own := &meshtest.HTTPClient{URL: b.URL, Session: "job"}
	if code, err := own.Push(t.Context(), "t", []byte("secret")); code != ptp.OK {
		t.Fatalf("admitted container push: %s %v", code, err)
	}

	for _, tc := range []struct {
		name string
		url  string
		tls  bool
	}{{"plaintext", b.URL, false}, {"tls without certificate", "https://" + b.Addr, true}} {
		t.Run("http "+tc.name, func(t *testing.T) {
			for _, m := range []string{"pop", "peek", "release", "push"} {
				r := postWith(t, strangerHTTP(tc.tls), tc.url+"/v1/interconn/chan/"+m,
					map[string]string{ptp.HeaderSessionID: "job", ptp.HeaderTopic: "t"}, `{"payload":"eA=="}`)
				if r.Code != ptp.Unauthorized || !strings.Contains(r.Message, "--container-nets") {
					t.Errorf("stranger %s: want %s naming --container-nets, got %s", m, ptp.Unauthorized, r.Body)
				}
			}
			// The same caller with the container token is a container.
			r := postWith(t, strangerHTTP(tc.tls), tc.url+"/v1/interconn/chan/peek",
				map[string]string{ptp.HeaderSessionID: "job", ptp.HeaderTopic: "t", "Authorization": "Bearer c0ntainer-t0ken"}, `{}`)
			if r.Code != ptp.OK || string(r.Bytes()) != "secret" {
				t.Errorf("peek with the container token: %s", r.Body)
			}
			r = postWith(t, strangerHTTP(tc.tls), tc.url+"/v1/interconn/chan/peek",
				map[string]string{ptp.HeaderSessionID: "job", ptp.HeaderTopic: "t", "Authorization": "Bearer wrong"}, `{}`)
			if r.Code != ptp.Unauthorized {
				t.Errorf("peek with a wrong token: %s", r.Body)
			}
		})
	}
	t.Run("grpc", func(t *testing.T) {
		for name, creds := range map[string]credentials.TransportCredentials{
			"plaintext": insecure.NewCredentials(), "tls without certificate": credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}),
		} {
			c := strangerGRPC(t, b.Addr, creds)
			ctx := metadata.AppendToOutgoingContext(context.Background(), ptp.HeaderSessionID, "job")
			out, err := c.Pop(ctx, &ptp.PopInbound{Topic: "t", Timeout: 100})
			if err != nil || out.Code != string(ptp.Unauthorized) || len(out.Payload) != 0 {
				t.Errorf("%s stranger pop: %v %v", name, err, out)
			}
			withToken := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer c0ntainer-t0ken")
			if out, err := c.Peek(withToken, &ptp.PeekInbound{Topic: "t"}); err != nil || out.Code != string(ptp.OK) || string(out.Payload) != "secret" {
				t.Errorf("%s peek with the token: %v %v", name, err, out)
			}
		}
	})
	// Nothing the strangers did took the message.
	if got, code, _ := own.Pop(t.Context(), "t", 1000); code != ptp.OK || string(got) != "secret" {
		t.Fatalf("own container pop after the attempts: %q %s", got, code)
	}
}

// TestPartnerWithoutItsCertificateGetsNoContainerRights: a woven partner
// that connects without its certificate is a stranger, not a container.
func TestPartnerWithoutItsCertificateGetsNoContainerRights(t *testing.T) {
	aRoot, err := pki.NewRoot("node-a root")
	if err != nil {
		t.Fatal(err)
	}
	a := meshtest.Start(t, host.Config{})
	b := meshtest.Start(t, host.Config{ContainerNets: []string{"127.0.0.1/32"}})
	a.Control(t, "/v1/interconn/node/refresh", map[string]string{"node_id": "node-a", "inst_id": "inst-a",
		"root_crt": string(aRoot.CertPEM), "root_key": string(aRoot.KeyPEM)}, ptp.OK)
	a.ID, a.Inst = "node-a", "inst-a"
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)
	if code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "s"}).Push(t.Context(), "t", []byte("for b only")); code != ptp.OK {
		t.Fatal(code)
	}
	// As A with its certificate: may deliver, not pop.
	if out := invoke(t, dialAs(t, b, aRoot, "node-a"), "/org.ppc.ptp.PrivateTransferTransport/pop", "", nil); out.Code != string(ptp.NotPermitted) {
		t.Fatalf("partner pop with its certificate: %s %s", out.Code, out.Message)
	}
	// As A without it, from A's machine: not a container either.
	c := strangerGRPC(t, b.Addr, credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}))
	ctx := metadata.AppendToOutgoingContext(context.Background(), ptp.HeaderSessionID, "s")
	if out, err := c.Pop(ctx, &ptp.PopInbound{Topic: "t", Timeout: 100}); err != nil || out.Code != string(ptp.Unauthorized) || len(out.Payload) != 0 {
		t.Fatalf("partner pop without its certificate: %v %v", err, out)
	}
	// Nor may it forward under B's identity.
	r := postWith(t, strangerHTTP(false), b.URL+"/v1/interconn/chan/push",
		map[string]string{ptp.HeaderSessionID: "s", ptp.HeaderTopic: "t", ptp.HeaderTargetNodeID: "node-a"}, `{"payload":"eA=="}`)
	if r.Code != ptp.Unauthorized {
		t.Fatalf("forward through B without a certificate: %s", r.Body)
	}
}

// TestDefaultAdmitsOnlyThisMachine: with nothing configured, containers are
// admitted from loopback and nowhere else; "none" admits no network.
func TestDefaultAdmitsOnlyThisMachine(t *testing.T) {
	if err := (&host.Config{ContainerNets: []string{"10.0.0.0/33"}}).Validate(); err == nil {
		t.Fatal("a bad container network was accepted")
	}
	var cfg host.Config
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.ContainerNets, ",") != "127.0.0.0/8,::1/128" {
		t.Fatalf("default container networks: %v", cfg.ContainerNets)
	}
	n := meshtest.Start(t, host.Config{ContainerNets: []string{"none"}})
	n.Identify(t, "node-n", "inst-n")
	if code, _ := (&meshtest.HTTPClient{URL: n.URL, Session: "s"}).Push(t.Context(), "t", []byte("x")); code != ptp.Unauthorized {
		t.Fatalf("push from loopback to a node admitting no network: %s", code)
	}
}

// TestRouteHandlerPathsAdmitContainersOnly: a path a route handler claims
// is the institution's own service: a caller without a certificate reaches
// it only as an admitted container.
func TestRouteHandlerPathsAdmitContainersOnly(t *testing.T) {
	n := meshtest.Start(t, host.Config{ContainerNets: []string{"127.0.0.1/32"}, ContainerToken: "tok"})
	n.Identify(t, "node-n", "inst-n")
	n.Install(t, "custom", plugintest.Build(t, "plugins/route"), map[string]string{"routes": "/hello=respond:200:internal"},
		plugin.Options{Prefixes: []string{"/hello"}}, ptp.OK)
	get := func(hc *http.Client, url, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return meshtest.Fetch(t, hc, req)
	}
	if code, body := get(http.DefaultClient, n.URL+"/hello", ""); code != 200 || body != "internal" {
		t.Fatalf("admitted container: %d %q", code, body)
	}
	for _, tlsToo := range []bool{false, true} {
		url := n.URL + "/hello"
		if tlsToo {
			url = "https://" + n.Addr + "/hello"
		}
		if code, body := get(strangerHTTP(tlsToo), url, ""); code != http.StatusForbidden || strings.Contains(body, "internal") {
			t.Errorf("stranger (tls %v): %d %q", tlsToo, code, body)
		}
		if code, body := get(strangerHTTP(tlsToo), url, "tok"); code != 200 || body != "internal" {
			t.Errorf("stranger with the container token (tls %v): %d %q", tlsToo, code, body)
		}
	}
}

// postWith posts body with headers through hc and decodes the PTP reply.
func postWith(t *testing.T, hc *http.Client, url string, headers map[string]string, body string) meshtest.Reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return meshtest.Do(t, hc, req)
}
