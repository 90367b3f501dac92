package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	extism "github.com/extism/go-sdk"
)

// The Extism import the host serves itself for a plugin with allow_hosts,
// and the namespace it moves to. The names have the same length, so the
// module is patched in place (see renameImport).
const (
	extismEnv     = "extism:host/env"
	grantEnv      = "mesh:grant/http"
	httpRequestFn = "http_request"
	maxRedirects  = 5
	// defaultMaxHTTPResponse is Extism's own cap on a response body.
	defaultMaxHTTPResponse = 50 << 20
)

// hostGrant is one allow_hosts entry: a host name or IP (with * wildcards)
// and a port. An entry without a port allows the scheme's default port
// only (443 for https, 80 for http).
type hostGrant struct {
	host string // lower case; a path.Match pattern
	port string // "" for the scheme's default
}

// parseHostGrants parses allow_hosts: each entry HOST or HOST:PORT (IPv6 in
// brackets).
func parseHostGrants(entries []string) (grantedHosts, error) {
	var out grantedHosts
	for _, e := range entries {
		g := hostGrant{host: strings.ToLower(e)}
		if h, p, err := net.SplitHostPort(e); err == nil {
			g = hostGrant{host: strings.ToLower(h), port: p}
		}
		if strings.HasPrefix(g.host, "[") && strings.HasSuffix(g.host, "]") {
			g.host = g.host[1 : len(g.host)-1]
		}
		if !validHost(g.host) || g.port != "" && !validPort(g.port) {
			return nil, fmt.Errorf("allow_hosts %q: want HOST or HOST:PORT (a port number; no port means the scheme's default, 443 or 80)", e)
		}
		out = append(out, g)
	}
	return out, nil
}

// validHost is a host name pattern or an IP address.
func validHost(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return true
	}
	_, err := path.Match(h, "")
	return err == nil && h != "" && !strings.ContainsAny(h, "/:@[] ")
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 1<<16 && strconv.Itoa(n) == p
}

// grantedHosts is the network a plugin may reach.
type grantedHosts []hostGrant

// allows reports whether scheme://host:port is granted.
func (gs grantedHosts) allows(scheme, host, port string) bool {
	def := map[string]string{"http": "80", "https": "443"}[scheme]
	if def == "" {
		return false
	}
	if port == "" {
		port = def
	}
	host = strings.ToLower(host)
	for _, g := range gs {
		want := g.port
		if want == "" {
			want = def
		}
		if ok, _ := path.Match(g.host, host); ok && want == port {
			return true
		}
	}
	return false
}

func (gs grantedHosts) allowsURL(u *url.URL) bool { return gs.allows(u.Scheme, u.Hostname(), u.Port()) }

// allowsDial reports whether a connection to addr (host:port as the
// transport dials it) is granted under some scheme.
func (gs grantedHosts) allowsDial(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	return err == nil && (gs.allows("http", host, port) || gs.allows("https", host, port))
}

// errNotGranted is a request outside the plugin's allow_hosts.
var errNotGranted = errors.New("not in the plugin's allow_hosts")

// client makes a plugin's HTTP requests: no proxy, every connection
// checked against the grant, and a redirect leaving the grant is not
// followed (the guest gets the redirect itself).
func (gs grantedHosts) client() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		Proxy:             nil,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      4,
		IdleConnTimeout:   30 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !gs.allowsDial(addr) {
				return nil, fmt.Errorf("dial %s: %w", addr, errNotGranted)
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects || !gs.allowsURL(req.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// httpFunction is the http_request the host serves a plugin with
// allow_hosts, in place of Extism's (which matches host names only, any
// port, and follows every redirect). Like Extism's, a refused or failed
// request traps the call.
func httpFunction(gs grantedHosts, c *http.Client, log *slog.Logger) extism.HostFunction {
	f := extism.NewHostFunctionWithStack(httpRequestFn, func(ctx context.Context, p *extism.CurrentPlugin, stack []uint64) {
		out, err := doHTTP(ctx, c, gs, p, stack[0], stack[1])
		if err != nil {
			log.Warn("plugin HTTP request refused or failed", "err", err)
			panic(err)
		}
		stack[0] = out
	}, []extism.ValueType{extism.ValueTypePTR, extism.ValueTypePTR}, []extism.ValueType{extism.ValueTypePTR})
	f.SetNamespace(grantEnv)
	return f
}

// doHTTP reads the guest's request at reqAt (body at bodyAt, 0 for none),
// makes it, and writes the response body into the guest.
func doHTTP(ctx context.Context, c *http.Client, gs grantedHosts, p *extism.CurrentPlugin, reqAt, bodyAt uint64) (uint64, error) {
	plug, _ := ctx.Value(extism.PluginCtxKey("plugin")).(*extism.Plugin)
	if plug == nil {
		return 0, errors.New("http_request outside a plugin call")
	}
	raw, err := p.ReadBytes(reqAt)
	if err != nil {
		return 0, fmt.Errorf("http_request: read request: %w", err)
	}
	p.Free(reqAt)
	var hr extism.HttpRequest
	if err := json.Unmarshal(raw, &hr); err != nil {
		return 0, fmt.Errorf("http_request: invalid request: %w", err)
	}
	req, err := grantedRequest(ctx, gs, hr, p, bodyAt)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("http_request %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	return answerGuest(plug, p, resp)
}

// grantedRequest builds the request hr describes, refusing one outside gs.
func grantedRequest(ctx context.Context, gs grantedHosts, hr extism.HttpRequest, p *extism.CurrentPlugin, bodyAt uint64) (*http.Request, error) {
	u, err := url.Parse(hr.Url)
	if err != nil {
		return nil, fmt.Errorf("http_request: invalid url: %w", err)
	}
	if !gs.allowsURL(u) {
		return nil, fmt.Errorf("http_request to %s://%s: %w", u.Scheme, u.Host, errNotGranted)
	}
	var body io.Reader
	if bodyAt != 0 {
		b, err := p.ReadBytes(bodyAt)
		if err != nil {
			return nil, fmt.Errorf("http_request: read body: %w", err)
		}
		p.Free(bodyAt)
		body = bytes.NewReader(b)
	}
	method := strings.ToUpper(hr.Method)
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("http_request: %w", err)
	}
	for k, v := range hr.Headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// answerGuest records resp's status and headers for http_status_code and
// http_headers, and writes its body (capped) into the guest.
func answerGuest(plug *extism.Plugin, p *extism.CurrentPlugin, resp *http.Response) (uint64, error) {
	if plug.LastResponseHeaders != nil {
		clear(plug.LastResponseHeaders)
		for k, v := range resp.Header {
			plug.LastResponseHeaders[strings.ToLower(k)] = strings.Join(v, ",")
		}
	}
	plug.LastStatusCode = resp.StatusCode
	limit := plug.MaxHttpResponseBytes
	if limit <= 0 {
		limit = defaultMaxHTTPResponse
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, fmt.Errorf("http_request: read response: %w", err)
	}
	if int64(len(body)) > limit {
		return 0, fmt.Errorf("http_request: response body over %d bytes", limit)
	}
	if len(body) == 0 {
		return 0, nil
	}
	return p.WriteBytes(body)
}
