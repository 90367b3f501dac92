package network

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip" // registers the gzip compressor, for the legacy dialect
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/ptp"
)

// outForm is how a push travels to a partner of one dialect: the one table
// of outbound forms is outForms.
type outForm struct {
	streams bool   // pushes up to streamed bytes go on transport streams
	method  string // the full gRPC method of invoke
	gzip    bool   // invoke is sent gzip-compressed
	grpcURI string // x-ptp-uri of a gRPC delivery; "" sends none
	httpURI string // x-ptp-uri of an HTTP delivery; "" sends none
	marked  bool   // the payload is raw and says so with HeaderForm
	topicH  bool   // an HTTP delivery names the topic in x-ptp-topic (the older Mesh's, in its body only)
	// shape is the payload of a gRPC invoke or stream message.
	shape func(d Delivery) ([]byte, error)
	// body is the HTTP request body and its content type.
	body func(md map[string]string, d Delivery) ([]byte, string, error)
}

// Method names of the gRPC invoke, per protobuf package.
const (
	invokeMesh   = "/org.ppc.ptp.PrivateTransferProtocol/invoke"
	invokeKuscia = "/org.ppc.grpc_ptp.PrivateTransferProtocol/invoke"
)

// outForms is the one table of outbound forms, by dialect.
var outForms = map[ptp.Dialect]outForm{
	ptp.DialectMesh: {streams: true, method: invokeMesh, marked: true,
		grpcURI: "/org.ppc.ptp.PrivateTransferTransport/push", httpURI: "/org.ppc.ptp.PrivateTransferTransport/push",
		topicH: true, shape: rawPayload, body: rawBody},
	ptp.DialectLegacy: {method: invokeMesh, gzip: true,
		grpcURI: "grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push", httpURI: "https://ptp.cn/v1/interconn/chan/push",
		shape: pushInbound, body: legacyBody},
	ptp.DialectKuscia: {method: invokeKuscia, topicH: true, shape: rawPayload, body: rawBody},
}

// formOf is the outbound form of dialect d; "" is mesh.
func formOf(d ptp.Dialect) outForm {
	if f, ok := outForms[d]; ok {
		return f
	}
	return outForms[ptp.DialectMesh]
}

// CheckDialect refuses a dialect name that is not in the table; "" is mesh.
func CheckDialect(d string) error {
	if _, ok := outForms[ptp.Dialect(d)]; ok || d == "" {
		return nil
	}
	return ptp.Errorf(ptp.BadRequest, "dialect %.40q: want %s, %s or %s", d, ptp.DialectMesh, ptp.DialectLegacy, ptp.DialectKuscia)
}

// isMesh says whether a route's partner speaks Mesh's own dialect.
func isMesh(d ptp.Dialect) bool { return d == "" || d == ptp.DialectMesh }

func rawPayload(d Delivery) ([]byte, error) { return d.Payload, nil }

// pushInbound is the older Mesh's payload: protobuf PushInbound with the
// message's own metadata.
func pushInbound(d Delivery) ([]byte, error) {
	b, err := proto.Marshal(&ptp.PushInbound{Topic: d.Topic, Payload: d.Payload, Metadata: own(d.Metadata)})
	if err != nil {
		return nil, ptp.Errorf(ptp.SystemError, "encode PushInbound for topic %q: %v", d.Topic, err)
	}
	return b, nil
}

func rawBody(_ map[string]string, d Delivery) ([]byte, string, error) {
	return d.Payload, "application/octet-stream", nil
}

// legacyBody is the older Mesh's JSON HTTP delivery: the PTP headers as
// metadata and, base64 in payload, the JSON PushInbound {topic, payload}.
func legacyBody(md map[string]string, d Delivery) ([]byte, string, error) {
	inner, err := json.Marshal(struct {
		Topic    string            `json:"topic"`
		Payload  []byte            `json:"payload"`
		Metadata map[string]string `json:"metadata,omitempty"`
	}{d.Topic, d.Payload, own(d.Metadata)})
	if err != nil {
		return nil, "", ptp.Errorf(ptp.SystemError, "encode JSON PushInbound for topic %q: %v", d.Topic, err)
	}
	b, err := json.Marshal(struct {
		Metadata map[string]string `json:"metadata"`
		Payload  []byte            `json:"payload"`
	}{md, inner})
	if err != nil {
		return nil, "", ptp.Errorf(ptp.SystemError, "encode JSON Inbound for topic %q: %v", d.Topic, err)
	}
	return b, "application/json", nil
}

// own is a message's own metadata: every key that is not a protocol header.
func own(md map[string]string) map[string]string {
	var out map[string]string
	for k, v := range md {
		if ptp.Reserved(k) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(md))
		}
		out[k] = v
	}
	return out
}

// grpcInbound is push d as a gRPC delivery in form f; md holds the headers
// common to every form.
func (f outForm) grpcInbound(md map[string]string, d Delivery) (*ptp.Inbound, error) {
	p, err := f.shape(d)
	if err != nil {
		return nil, err
	}
	md = f.headers(md, f.grpcURI)
	md[ptp.HeaderTopic] = d.Topic
	return &ptp.Inbound{Metadata: md, Payload: p}, nil
}

// headers is md with form f's x-ptp-uri and payload marker.
func (f outForm) headers(md map[string]string, uri string) map[string]string {
	out := make(map[string]string, len(md)+3)
	for k, v := range md {
		out[k] = v
	}
	if uri != "" {
		out[ptp.HeaderURI] = uri
	}
	if f.marked {
		out[ptp.HeaderForm] = ptp.FormRaw
	}
	return out
}

// invokeAs delivers in with form f's invoke, its headers also in gRPC
// metadata.
func (l *link) invokeAs(ctx context.Context, f outForm, in *ptp.Inbound) error {
	var opts []grpc.CallOption
	if f.gzip {
		opts = append(opts, grpc.UseCompressor(gzip.Name))
	}
	out := new(ptp.Outbound)
	if err := l.cc.Invoke(outgoingCtx(ctx, in.Metadata), f.method, in, out, opts...); err != nil {
		return l.failed(err)
	}
	return l.answered(ptp.Code(out.Code), out.Message)
}

// invokeHTTPAs delivers push d with form f's HTTP invoke.
func (l *link) invokeHTTPAs(ctx context.Context, f outForm, md map[string]string, d Delivery) error {
	hdr := f.headers(md, f.httpURI)
	if f.topicH {
		hdr[ptp.HeaderTopic] = d.Topic
	}
	body, ctype, err := f.body(md, d)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/v1/interconn/chan/invoke", bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", ctype)
	return l.doHTTP(req)
}

// failed is a failed gRPC call: a refusal no retry can change (the partner
// does not implement the call, or says the request is malformed) fails at
// once with the partner's message; anything else may pass.
func (l *link) failed(err error) error {
	s, ok := status.FromError(err)
	if !ok {
		return unreachable(err)
	}
	switch s.Code() {
	case codes.Unimplemented:
		return ptp.Errorf(ptp.NoSuchService, "partner %s: %s (check the route's dialect)", l.node, s.Message())
	case codes.InvalidArgument:
		return ptp.Errorf(ptp.BadRequest, "partner %s: %s", l.node, s.Message())
	}
	return unreachable(err)
}

// deterministic are the partner refusals that a retry cannot change: a push
// answered with one fails at once with the partner's code.
var deterministic = map[ptp.Code]bool{
	ptp.BadRequest: true, ptp.Unauthorized: true, ptp.NotFound: true, ptp.TooLarge: true,
	ptp.Incompatible: true, ptp.CertificateError: true, ptp.TokenExpired: true, ptp.NetworkExpired: true,
	ptp.PeerDisabled: true, ptp.NotPermitted: true, ptp.BadSignature: true, ptp.CodecError: true,
	ptp.NoSuchService: true, ptp.NotWoven: true, ptp.BadAddress: true,
}

// decodeReply reads a partner's HTTP reply: PTP JSON {code, message}, or
// Kuscia's protobuf TransportOutbound {payload=1, code=2, message=3}.
func decodeReply(data []byte) (ptp.Code, string, bool) {
	if r, err := ptp.ParseReply(data); err == nil {
		return r.Code, r.Message, true
	}
	return kusciaReply(data)
}

// kusciaReply decodes Kuscia's protobuf HTTP reply; ok is false unless it
// holds a code.
func kusciaReply(b []byte) (code ptp.Code, msg string, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", false
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return "", "", false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", "", false
		}
		b = b[n:]
		switch num {
		case 2:
			code = ptp.Code(v)
		case 3:
			msg = string(v)
		}
	}
	return code, msg, code != ""
}

// readReply reads at most 1 MiB of resp's body.
func readReply(resp *http.Response) []byte {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return data
}

// errWeaveDialect is the answer to net/weave toward a partner that has no
// weave handshake.
func errWeaveDialect(id string, d ptp.Dialect) error {
	return ptp.Errorf(ptp.Incompatible, "partner %s speaks the %s dialect, which has no weave handshake: "+
		"confirm it with net/ack {node_id, trust: %q} on a plaintext route with allow_plaintext (it is then known by its source addresses), "+
		"or with net/ack {node_id, guest_root} giving its root CA", id, d, TrustPlaintext)
}
