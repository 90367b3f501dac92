package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"os"
	"strings"

	"github.com/ppcmesh/mesh/host/metrics"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

const octetStream = "application/octet-stream"

// chanHandler serves POST /v1/interconn/chan/{method}. A call with the
// query parameter timeout is in Kuscia's form: seconds, protobuf reply.
func (h *Handler) chanHandler(m ptp.Method) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reply := replyWriter(r.URL.Query().Has(kusciaTimeout))
		req, err := h.readChan(w, r, m)
		if err == nil {
			err = kusciaQuery(r, &req)
		}
		if err != nil {
			req.Method, req.Wire = m, httpWire(isRaw(r.Header.Get("Content-Type")), r)
			h.refuse(w, r, reply, req, err)
			return
		}
		reply(w, r, h.svc.Do(r.Context(), req))
	}
}

// invokeHandler serves the HTTP form of PrivateTransferProtocol.invoke: PTP
// headers carry the routing, the body is the inner payload (see
// invokeRule). An invoke with x-ptp-topic and neither x-ptp-uri nor
// x-mesh-form is in Kuscia's form and is answered as Kuscia answers.
func (h *Handler) invokeHandler(w http.ResponseWriter, r *http.Request) {
	uri := r.Header.Get(ptp.HeaderURI)
	if uri != "" && h.serveRoute(w, r, uri) {
		return
	}
	if h.invokesService(r, uri) {
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = uri, ""
		h.serveService(w, r)
		return
	}
	reply := replyWriter(uri == "" && r.Header.Get(ptp.HeaderForm) == "" && r.Header.Get(ptp.HeaderTopic) != "")
	body, err := readEncoded(w, r, h.maxBody)
	if err != nil {
		h.refuse(w, r, reply, Request{Op: invokeOp(r.URL.Path), Wire: metrics.TransportHTTP}, err)
		return
	}
	req, err := decodeInvoke(httpHeaders(r.Header), body)
	if err != nil {
		h.refuse(w, r, reply, Request{Op: invokeOp(r.URL.Path), Wire: metrics.TransportHTTP}, err)
		return
	}
	req.Conn, req.Op, req.Wire = connOf(r.Context()), invokeOp(r.URL.Path), metrics.TransportHTTP
	reply(w, r, h.svc.Do(r.Context(), req))
}

// invokeOp is the operation of an HTTP invoke: its path names it.
func invokeOp(path string) metrics.Op {
	if strings.HasSuffix(path, "/transport") {
		return metrics.OpTransport
	}
	return metrics.OpInvoke
}

// invokesService reports whether an invoke's x-ptp-uri names a registered
// service rather than a PTP method: a path a route of this node holds, or,
// from a container, any path when the call targets a partner (which then
// decides). The invoke's body is the service's request body.
func (h *Handler) invokesService(r *http.Request, uri string) bool {
	if _, _, isMethod := ptp.ParseURI(uri); isMethod || !strings.HasPrefix(uri, "/") || registry.Reserved(uri) {
		return false
	}
	if m := h.svc.services.Routes; m != nil {
		if _, ok := m.Match(uri, registry.ProtoHTTP); ok {
			return true
		}
	}
	if connOf(r.Context()).HasCert() {
		return false
	}
	tn, ti := r.Header.Get(ptp.HeaderTargetNodeID), r.Header.Get(ptp.HeaderTargetInstID)
	return !isLocal(Request{TargetNode: tn, TargetInst: ti}, h.ident.Current())
}

// readChan decodes a chan request: raw bytes when the body is
// application/octet-stream (topic in x-ptp-topic), JSON otherwise.
func (h *Handler) readChan(w http.ResponseWriter, r *http.Request, m ptp.Method) (Request, error) {
	raw := isRaw(r.Header.Get("Content-Type"))
	var body []byte
	var err error
	if raw {
		body, err = readBody(w, r, h.maxBody)
	} else {
		body, err = readEncoded(w, r, h.maxBody)
	}
	if err != nil {
		return Request{}, err
	}
	var req Request
	if raw {
		req = Request{Method: m, Payload: body}
	} else if req, err = decodeJSON(m, body); err != nil {
		return req, err
	}
	req.Conn, req.Wire = connOf(r.Context()), httpWire(raw, r)
	return req, applyHeaders(httpHeaders(r.Header), &req)
}

// envelopeRoom is what a body may hold besides its payload: the JSON
// around it, the topic, the metadata (see queue.MaxMetadataBytes).
const envelopeRoom = 64 << 10

// encodedLimit is the largest body that can carry a payload of max bytes
// in base64 (JSON bodies, invoke forms): the payload rule (checkPayload)
// then holds on every transport alike — a message of up to --max-message
// bytes is stored however it came, one byte more is refused with 413.
func encodedLimit(max int64) int64 {
	return (max+2)/3*4 + envelopeRoom
}

// readEncoded reads a body that carries a payload of at most max bytes
// encoded (see encodedLimit).
func readEncoded(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	body, err := readBody(w, r, encodedLimit(max))
	if c, msg := ptp.Describe(err); c == ptp.TooLarge {
		return nil, ptp.Errorf(ptp.TooLarge, "%s: room for a payload of at most %d bytes (--max-message) in base64, and its envelope", msg, max)
	}
	return body, err
}

// readBody reads the whole body, refusing more than max bytes with 413 and
// a body arriving slower than the connection's BodyRate with 601. The
// buffer grows as bytes arrive rather than as Content-Length claims, so a
// sender pins no more memory than about twice what it has sent.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, ptp.Errorf(ptp.TooLarge, "body of %d bytes exceeds the limit of %d bytes", r.ContentLength, max)
	}
	br := bodyRateOf(r.Context()).reader(w)
	defer br.done()
	buf, err := br.readAll(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return buf, nil
	case errors.As(err, &mbe):
		return nil, ptp.Errorf(ptp.TooLarge, "body exceeds the limit of %d bytes", max)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, br.tooSlow(len(buf), r.ContentLength)
	}
	return nil, ptp.Errorf(ptp.BadRequest, "read body: %v", err)
}

func isRaw(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == octetStream
}

func wantsRaw(r *http.Request) bool {
	for a := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		if isRaw(strings.TrimSpace(a)) {
			return true
		}
	}
	return false
}

// writeReply answers in JSON — {code, message, content, payload, metadata},
// the bytes base64 under both names that clients read — or, when the caller
// accepts application/octet-stream, as raw bytes with the code and message
// in headers.
func writeReply(w http.ResponseWriter, r *http.Request, rep Reply) {
	noteOutcome(r.Context(), rep.Code, rep.Message) // a control change's outcome, for its audit record
	hdr := w.Header()
	if wantsRaw(r) {
		for k, v := range rep.Metadata {
			if strings.HasPrefix(strings.ToLower(k), "x-") {
				hdr.Set(k, headerSafe(v))
			}
		}
		// Set last: the code and message are the node's, whatever metadata says.
		hdr.Set("Content-Type", octetStream)
		hdr.Set(ptp.HeaderCode, string(rep.Code))
		hdr.Set(ptp.HeaderMessage, headerSafe(rep.Message))
		w.WriteHeader(rep.Code.HTTP())
		_, _ = w.Write(rep.Payload)
		return
	}
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(rep.Code.HTTP())
	_, _ = w.Write(replyJSON(rep))
}

// replyJSON encodes rep, base64-encoding the payload once for both names.
func replyJSON(rep Reply) []byte {
	code, _ := json.Marshal(rep.Code)
	msg, _ := json.Marshal(rep.Message)
	meta, _ := json.Marshal(rep.Metadata)
	b64 := base64.StdEncoding.EncodedLen(len(rep.Payload))
	out := make([]byte, 0, 2*b64+len(code)+len(msg)+len(meta)+64)
	out = append(out, `{"code":`...)
	out = append(out, code...)
	out = append(out, `,"message":`...)
	out = append(out, msg...)
	if rep.Payload != nil {
		start := len(out) + len(`,"content":"`)
		out = append(out, `,"content":"`...)
		out = base64.StdEncoding.AppendEncode(out, rep.Payload)
		enc := out[start:]
		out = append(out, `","payload":"`...)
		out = append(out, enc...)
		out = append(out, '"')
	}
	if rep.Metadata != nil {
		out = append(out, `,"metadata":`...)
		out = append(out, meta...)
	}
	return append(out, "}\n"...)
}

func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeReply(w, r, fail(ptp.Errorf(ptp.BadRequest, "%s is not allowed on %s", r.Method, r.URL.Path)))
}
