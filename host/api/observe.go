package api

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/ppcmesh/mesh/host/metrics"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// observe tells the metrics (and the access log) of call r, answered rep,
// which started at start. It allocates nothing unless the access log is on.
func (s *Service) observe(r *Request, rep *Reply, start time.Time) {
	m := s.limits.Metrics
	if m == nil {
		return
	}
	op := r.Op
	if op == metrics.OpOther {
		op = metrics.OpOf(r.Method)
	}
	c := metrics.Call{Op: op, Transport: r.Wire, Code: rep.Code, Session: r.Session, Topic: r.Topic,
		BytesIn: len(r.Payload), BytesOut: len(rep.Payload), Start: start}
	if m.Logs() {
		c.Remote = r.Conn.RemoteIP()
		c.Caller, c.CallerID = s.callerOf(r)
	}
	m.Done(&c)
}

// refused observes call r, refused with rep before the service saw it (a
// body or headers that could not be decoded).
func (s *Service) refused(r Request, rep Reply) {
	s.observe(&r, &rep, time.Now())
}

// refuse answers, and observes, an HTTP call refused before the service
// saw it; req holds what was decoded of it.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, reply func(http.ResponseWriter, *http.Request, Reply), req Request, err error) {
	rep := fail(err)
	req.Conn = connOf(r.Context())
	h.svc.refused(req, rep)
	reply(w, r, rep)
}

// httpWire is the transport of an HTTP chan call: raw when its body
// (raw) or its answer (Accept) is application/octet-stream.
func httpWire(raw bool, r *http.Request) metrics.Transport {
	if raw || wantsRaw(r) {
		return metrics.TransportHTTPRaw
	}
	return metrics.TransportHTTP
}

// callerOf names who made r, for the access log: a partner by the node id
// of its certificate, else a container (its address is the line's remote).
func (s *Service) callerOf(r *Request) (kind, id string) {
	if partner, err := s.net.Caller(r.Conn, r.Source); err == nil && partner != "" {
		return "partner", partner
	}
	return "container", ""
}

// popped tells the metrics of a pop that started waiting at start and
// took m (nil: none came).
func (s *Service) popped(start time.Time, m *queue.Message) {
	if s.limits.Metrics == nil {
		return
	}
	var stored time.Time
	if m != nil {
		stored = m.Stored
	}
	s.limits.Metrics.Popped(time.Since(start), stored)
}

// observed counts each control request (metrics.OpControl) and, with the
// access log on, logs it with its caller: "operator" when the gate let it
// through, "refused" when the gate refused it (a stranger is no operator).
// Refusals count too.
func (h *Handler) observed(next http.Handler) http.Handler {
	m := h.svc.limits.Metrics
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		var refused bool
		if m.Logs() {
			r = r.WithContext(context.WithValue(r.Context(), refusedKey{}, &refused))
		}
		next.ServeHTTP(sw, r)
		c := metrics.Call{Op: metrics.OpControl, Transport: metrics.TransportHTTP, Code: ptp.OK, BytesOut: sw.n, Start: start}
		if sw.status >= 400 {
			c.Code = ptp.FromHTTP(sw.status)
		}
		if m.Logs() {
			c.Caller, c.Remote, c.Path = "operator", remoteIP(r), r.Method+" "+r.URL.Path
			if refused {
				c.Caller = "refused"
			}
		}
		m.Done(&c)
	})
}

// refusedKey holds, in a control request's context, the *bool observed
// reads and the gate sets when it refuses the caller (markRefused).
type refusedKey struct{}

// markRefused tells the middlewares above the gate that it refused the
// request in ctx: observed (the access log's caller) and audited.
func markRefused(ctx context.Context) {
	if p, ok := ctx.Value(refusedKey{}).(*bool); ok {
		*p = true
	}
	noteRefused(ctx)
}

// remoteIP is the caller's IP address: from the connection the data port
// knows, else from the request's (the admin port keeps no Conn).
func remoteIP(r *http.Request) string {
	if ip := connOf(r.Context()).RemoteIP(); ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// statusWriter remembers the status and counts the bytes of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(p)
	w.n += n
	return n, err
}

// Flush lets streaming answers (pprof, the panel's live feed) flush.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap is for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
