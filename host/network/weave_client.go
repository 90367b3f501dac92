package network

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"

	"github.com/ppcmesh/mesh/host/ptp"
)

// handshakeClient carries the handshake calls to one partner: always over
// TLS to the partner's port, whatever its address's scheme, with this
// node's certificate, never following redirects.
type handshakeClient struct {
	n    *Network
	id   string
	host string
	dial *failover
	tr   *http.Transport
}

// handshakeClient prepares the handshake calls to route e's address.
func (n *Network) handshakeClient(e *entry) (*handshakeClient, error) {
	a, err := ParseAddress(e.Address)
	if err != nil {
		return nil, err
	}
	hc := &handshakeClient{n: n, id: e.NodeID, host: a.Host, dial: newFailover(a.Hosts)}
	// The first round learns the partner's root: its serving certificate is
	// checked against the root it answers with (checkReply) before anything
	// is stored or revealed. The hello itself holds only public material.
	hc.use(&tls.Config{InsecureSkipVerify: true})
	return hc, nil
}

// trust makes the calls that follow verify the partner's serving
// certificate against root and the partner's node id.
func (hc *handshakeClient) trust(root string) {
	pool := x509.NewCertPool()
	if c, err := parseRoot(root); err == nil {
		pool.AddCert(c)
	}
	hc.use(&tls.Config{RootCAs: pool})
}

// use makes the calls that follow go with the node's TLS base (TLSConfig)
// and the trust of t.
func (hc *handshakeClient) use(t *tls.Config) {
	hc.close()
	cfg := TLSConfig()
	cfg.InsecureSkipVerify, cfg.RootCAs, cfg.ServerName = t.InsecureSkipVerify, t.RootCAs, hc.id
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return hc.n.certificate() }
	hc.tr = &http.Transport{DialContext: hc.dial.dial, TLSClientConfig: cfg}
}

func (hc *handshakeClient) close() {
	if hc.tr != nil {
		hc.tr.CloseIdleConnections()
	}
}

// post sends body to path on the partner, decodes the reply's content into
// out (when not nil) and returns the certificates the partner served.
func (hc *handshakeClient) post(ctx context.Context, path string, body, out any) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+hc.host+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: hc.tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return nil, ptp.Errorf(ptp.NetworkUnreachable, "handshake with %s at %s: %v", hc.id, hc.host, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	env, err := ptp.ParseReply(data)
	if err != nil {
		return nil, ptp.Errorf(ptp.Incompatible, "handshake with %s: reply %d is not a Mesh handshake: %.200q", hc.id, resp.StatusCode, data)
	}
	if env.Code != ptp.OK {
		return nil, ptp.Errorf(env.Code, "partner %s refused the handshake: %.300q", hc.id, env.Message)
	}
	if out != nil {
		if err := json.Unmarshal(env.Content, out); err != nil {
			return nil, ptp.Errorf(ptp.Incompatible, "handshake with %s: answer is not a Mesh handshake: %v", hc.id, err)
		}
	}
	if resp.TLS == nil {
		return nil, nil
	}
	return resp.TLS.PeerCertificates, nil
}
