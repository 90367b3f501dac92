package meshclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// The HTTP container API.
const (
	chanPath    = "/v1/interconn/chan/"
	statsPath   = "/stats"
	octetStream = "application/octet-stream"
	jsonType    = "application/json"
)

// httpWire speaks the HTTP container API: raw bodies out and in, the code
// and message in the reply's x-ptp-code and x-ptp-message headers.
type httpWire struct {
	base string
	hc   *http.Client
	max  int64 // largest reply body read
}

// newHTTPClient is the client of the node's HTTP port: keep-alive
// connections, no transparent compression, TLS when configured.
func newHTTPClient(o options) *http.Client {
	if o.httpClient != nil {
		return o.httpClient
	}
	tr := &http.Transport{
		Proxy:               nil, // the node is the container's own: never through a proxy
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     o.tls,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   o.tls != nil,
	}
	return &http.Client{Transport: tr}
}

func baseURL(addr string, tls bool) string {
	if tls {
		return "https://" + addr
	}
	return "http://" + addr
}

// dialHTTP checks, bounded by ctx, that the node answers at addr (GET
// /stats; any answer will do).
func dialHTTP(ctx context.Context, addr string, hc *http.Client, o options) (*httpWire, error) {
	w := &httpWire{base: baseURL(addr, o.tls != nil), hc: hc, max: int64(o.maxMessage) + envelopeRoom}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+statsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return w, nil
}

func (w *httpWire) close() error { return nil }

func (w *httpWire) do(ctx context.Context, c call) (answer, error) {
	body, ctype, err := httpBody(c)
	if err != nil {
		return answer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.base+chanPath+string(c.method), bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", octetStream)
	req.Header.Set(ptp.HeaderTopic, c.topic)
	if c.wait > 0 {
		req.Header.Set(ptp.HeaderTimeout, strconv.Itoa(int(c.wait)))
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return answer{}, w.failed(ctx, err)
	}
	defer resp.Body.Close()
	return w.read(ctx, resp)
}

// httpBody is the body of c: the raw payload of a push, a JSON push when
// the message has metadata (raw bodies have no room for it), else the
// JSON request {topic, timeout}.
func httpBody(c call) ([]byte, string, error) {
	var v any
	switch {
	case c.method == ptp.Push && len(c.meta) == 0:
		return c.payload, octetStream, nil
	case c.method == ptp.Push:
		p := c.payload
		if p == nil {
			p = []byte{}
		}
		v = struct {
			Topic    string            `json:"topic"`
			Payload  []byte            `json:"payload"`
			Metadata map[string]string `json:"metadata"`
		}{c.topic, p, c.meta}
	default:
		v = struct {
			Topic   string `json:"topic"`
			Timeout int32  `json:"timeout,omitempty"`
		}{c.topic, c.wait}
	}
	b, err := json.Marshal(v)
	return b, jsonType, err
}

// read decodes a reply: raw (code in x-ptp-code), or the JSON reply a
// node sends when it answers before reading the request (an admission
// refusal, say).
func (w *httpWire) read(ctx context.Context, resp *http.Response) (answer, error) {
	data, err := readAll(resp, w.max)
	if err != nil {
		return answer{}, w.failed(ctx, err)
	}
	if int64(len(data)) > w.max {
		return answer{}, &Error{Code: ptp.TooLarge, Message: fmt.Sprintf("reply exceeds the client's limit of %d bytes (WithMaxMessage)", w.max-envelopeRoom)}
	}
	if code := resp.Header.Get(ptp.HeaderCode); code != "" {
		_, found := resp.Header[http.CanonicalHeaderKey(ptp.HeaderMessageID)]
		return answer{code: ptp.Code(code), message: resp.Header.Get(ptp.HeaderMessage), payload: data, found: found}, nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == jsonType {
		if r, err := ptp.ParseReply(data); err == nil {
			return answer{code: r.Code, message: r.Message}, nil
		}
	}
	return answer{}, fmt.Errorf("node at %s answered HTTP %d without a PTP reply: %.200q", w.base, resp.StatusCode, data)
}

// readAll reads a body of up to max bytes (max+1 shows it is longer) in
// one buffer when its length is known.
func readAll(resp *http.Response, max int64) ([]byte, error) {
	n := resp.ContentLength
	if n < 0 || n > max {
		return io.ReadAll(io.LimitReader(resp.Body, max+1))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// failed is the error of a call that got no answer: the ctx's error when
// it ended the call, else the transport's, naming the node.
func (w *httpWire) failed(ctx context.Context, err error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return fmt.Errorf("node at %s: %w", w.base, err)
}

// pushMany pushes one at a time: the node stores concurrent HTTP requests
// in the order it happens to serve them, so order needs sequencing.
func (w *httpWire) pushMany(ctx context.Context, c call, payloads [][]byte, _ int) error {
	for i, p := range payloads {
		c.payload = p
		a, err := w.do(ctx, c)
		if err == nil {
			err = check(a.code, a.message)
		}
		if err != nil {
			return fmt.Errorf("push message %d of %d to %s: %w", i, len(payloads), c.topic, err)
		}
	}
	return nil
}
