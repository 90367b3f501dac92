package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// attemptKey carries the *attempt of a request through httputil.ReverseProxy.
type attemptKey struct{}

// attempt is one try of a request on one instance.
type attempt struct {
	u            *upstream
	timeout      time.Duration // the attempt's timeout; the connect gets connectTimeout of it
	retryGateway bool          // a 502/503/504 answer is dropped so the request can go elsewhere: only for a request with no body, as the transport may have sent part of one by the time the answer arrives
	stop         func() bool   // stops the attempt's timer (an upgraded connection has none after 101)
	timedOut     atomic.Bool
	err          error // what ReverseProxy reported instead of answering
	status       int   // the upstream's response status
	gateway      int   // the 502/503/504 dropped for a retry
}

// ServeHTTP forwards r to an instance of route, over HTTP/1.1 or h2c as
// route.H2 says, streaming both bodies, passing WebSocket (Upgrade)
// through for HTTP/1.1 upstreams, with X-Forwarded-For/-Host/-Proto set
// (any the caller sent are dropped). It returns a non-nil error (a
// *ptp.Error) only when nothing was written to w; the caller answers then.
// The response may begin before the request body ends (full duplex).
// When the attempt's timeout expires after the response began, or the
// upstream breaks off, the connection is cut (http.ErrAbortHandler).
//
// A request is retried on another healthy instance when nothing of it
// reached an upstream (the connection failed: any request, at least once),
// or when it is idempotent, its body was not read, and the upstream failed,
// or when it is idempotent, has no body, and the upstream answered
// 502/503/504 (up to route.Retries further attempts; a request with a body
// gets the gateway answer, as part of the body may have been sent). Nothing
// is retried once a byte reached the caller or after a timeout.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request, route registry.Route) error {
	rs := p.state(route)
	rs.stats.inflight.Add(1)
	// the upstream may answer while the caller still sends (an echo, a
	// stream): let the response start before the request body ends
	http.NewResponseController(w).EnableFullDuplex()
	tw := &trackWriter{ResponseWriter: w}
	start := time.Now()
	var err error
	defer func() {
		rs.stats.inflight.Add(-1)
		class, failed := httpClass(tw.status, err)
		rs.stats.done(class, failed, time.Since(start))
	}()
	r, sp := p.traceHTTP(r, route)
	defer func() { endProxy(sp, tw.status, err) }()
	err = p.serveHTTP(tw, r, route, rs)
	return err
}

// httpClass is the stats class of an HTTP outcome.
func httpClass(status int, err error) (string, bool) {
	if err != nil {
		code, _ := ptp.Describe(err)
		return string(code), true
	}
	if status == 0 {
		return "aborted", true
	}
	return string(rune('0'+status/100)) + "xx", status >= 500
}

func (p *Proxy) serveHTTP(w *trackWriter, r *http.Request, route registry.Route, rs *routeState) error {
	body := newReplayBody(r)
	t := &tries{route: route, rs: rs}
	for extra := 0; ; extra++ {
		u, err := t.next()
		if err != nil {
			return err
		}
		a := &attempt{u: u, timeout: p.timeout(route), retryGateway: body == nil && replayable(r, body) && extra < route.Retries && t.more()}
		p.attempt(w, r, body, route, a)
		if w.status != 0 || (a.err == nil && a.gateway == 0) {
			a.served(rs.threshold())
			return nil
		}
		retry, err := p.judge(r, body, u, a, rs.threshold())
		_, msg := ptp.Describe(err)
		t.failures = append(t.failures, msg)
		if !retry || extra >= retryLimit(route, a) {
			return gaveUp(route, t.failures, err)
		}
	}
}

// gaveUp is the error of the last failed attempt: itself, or, when
// several instances failed to answer, all of their failures.
func gaveUp(route registry.Route, failures []string, err error) error {
	if code, _ := ptp.Describe(err); code != ptp.NoProvider || len(failures) < 2 {
		return err
	}
	return noneAnswered(route, failures, err)
}

// served counts an attempt that answered the caller: a gateway error the
// upstream sent counts as a failure of the instance.
func (a *attempt) served(threshold int) {
	if isGateway(a.status) {
		a.u.failed(errors.New(http.StatusText(a.status)), threshold)
		return
	}
	a.u.succeeded()
}

// isGateway reports whether an upstream status says it cannot serve now.
func isGateway(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// retryLimit is how many further attempts an attempt's failure allows:
// route.Retries, and at least one when the connection failed (nothing was
// sent).
func retryLimit(route registry.Route, a *attempt) int {
	if isDial(a.err) {
		return max(route.Retries, 1)
	}
	return route.Retries
}

// judge classifies a failed attempt: whether another instance may be
// tried, and the error to return if not. It counts the failure against
// the instance unless the caller went away.
func (p *Proxy) judge(r *http.Request, body *replayBody, u *upstream, a *attempt, threshold int) (bool, error) {
	switch {
	case a.timedOut.Load():
		u.failed(errors.New("timeout"), threshold)
		return false, ptp.Errorf(ptp.Timeout, "instance %s gave no answer in time", u.id)
	case r.Context().Err() != nil:
		if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
			return false, ptp.Errorf(ptp.Timeout, "request deadline passed waiting for instance %s", u.id)
		}
		return false, ptp.Errorf(ptp.SystemError, "request cancelled waiting for instance %s", u.id)
	case a.gateway != 0:
		u.failed(errors.New(http.StatusText(a.gateway)), threshold)
		return replayable(r, body), ptp.Errorf(ptp.NoProvider, "instance %s answered %d", u.id, a.gateway)
	}
	u.failed(a.err, threshold)
	p.log.Debug("upstream failed", "instance", u.id, "address", u.addr, "err", a.err)
	return isDial(a.err) || replayable(r, body), ptp.Errorf(ptp.NoProvider, "instance %s: %v", u.id, a.err)
}

// attempt runs one try of r on a.u, bounded by the route's timeout.
func (p *Proxy) attempt(w http.ResponseWriter, r *http.Request, body *replayBody, route registry.Route, a *attempt) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	timer := time.AfterFunc(a.timeout, func() { a.timedOut.Store(true); cancel() })
	defer timer.Stop()
	a.stop = timer.Stop
	a.u.inflight.Add(1)
	defer a.u.inflight.Add(-1)
	req := r.WithContext(context.WithValue(ctx, attemptKey{}, a))
	if body != nil {
		req.Body = body
	}
	if route.H2 {
		p.rp2.ServeHTTP(w, req)
	} else {
		p.rp1.ServeHTTP(w, req)
	}
}

// reverseProxy is the ReverseProxy over transport t; per-request choices
// travel in the request's *attempt.
func (p *Proxy) reverseProxy(t http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			a := pr.In.Context().Value(attemptKey{}).(*attempt)
			pr.SetURL(&url.URL{Scheme: "http", Host: a.u.addr})
			// forward the path the registry matched, not another spelling of it
			pr.Out.URL.RawPath = ""
			pr.SetXForwarded()
			if p.cfg.Via != "" {
				pr.Out.Header.Add(ViaHeader, p.cfg.Via)
			}
			traceOutHTTP(pr.In.Context(), pr.In.Header, pr.Out.Header)
		},
		Transport:      t,
		FlushInterval:  -1,
		ModifyResponse: modifyResponse,
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			r.Context().Value(attemptKey{}).(*attempt).err = err
		},
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
}

// modifyResponse drops a gateway error the attempt may retry, and lifts
// the timeout from an upgraded (WebSocket) connection.
func modifyResponse(res *http.Response) error {
	a := res.Request.Context().Value(attemptKey{}).(*attempt)
	a.status = res.StatusCode
	switch {
	case res.StatusCode == http.StatusSwitchingProtocols:
		a.stop()
	case isGateway(res.StatusCode) && a.retryGateway:
		a.gateway = res.StatusCode
		return errRetry
	}
	return nil
}

// errRetry is what modifyResponse hands ReverseProxy for a dropped answer.
var errRetry = errors.New("gateway error dropped for a retry")

// isDial reports whether err is a failure to connect: nothing was sent.
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// replayable reports whether r may be sent again after reaching an
// upstream: an idempotent method whose body nobody has read.
func replayable(r *http.Request, body *replayBody) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return !body.touched()
	}
	return false
}

// replayBody wraps a request body so that an attempt that never read it
// leaves it for the next: Close does nothing (the server closes the real
// body when the handler returns), and touched tells whether a read began.
type replayBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

// newReplayBody wraps r's body; nil when r has none.
func newReplayBody(r *http.Request) *replayBody {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	return &replayBody{rc: r.Body}
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.rc.Read(p)
}

// Close leaves the body to the server, which closes it after the handler.
func (b *replayBody) Close() error { return nil }

func (b *replayBody) touched() bool { return b != nil && b.read.Load() }

// trackWriter records whether (and with what status) a response began.
type trackWriter struct {
	http.ResponseWriter
	status int // 0 until a final status was written
}

func (w *trackWriter) WriteHeader(code int) {
	if code >= 200 && w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// FlushError flushes through to the server's writer.
func (w *trackWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over (a protocol switch).
func (w *trackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status = http.StatusSwitchingProtocols
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *trackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
