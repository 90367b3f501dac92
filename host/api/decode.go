package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/tracing"
)

// headers reads PTP headers case-insensitively, whatever carried them.
type headers func(name string) string

// chain looks a header up in each source in turn.
func chain(hs ...headers) headers {
	return func(name string) string {
		for _, h := range hs {
			if v := h(name); v != "" {
				return v
			}
		}
		return ""
	}
}

// mapHeaders reads a metadata map whose keys may be in any case.
func mapHeaders(m map[string]string) headers {
	return func(name string) string {
		if v, ok := m[name]; ok {
			return v
		}
		for k, v := range m {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
}

// applyHeaders fills r's routing fields from PTP headers. Header topic and
// timeout override the body's.
func applyHeaders(get headers, r *Request) error {
	r.Session = get(ptp.HeaderSessionID)
	r.Source = get(ptp.HeaderSourceNodeID)
	if r.Source == "" {
		r.Source = get(ptp.HeaderFromNodeID)
	}
	r.TargetNode = get(ptp.HeaderTargetNodeID)
	r.TargetInst = get(ptp.HeaderTargetInstID)
	r.Token = get(ptp.HeaderToken)
	r.Bearer = bearer(get("authorization"))
	r.Codec = get(ptp.HeaderCodec)
	r.Provider = get(ptp.HeaderTechProviderCode)
	r.Trace = tracing.Read(get)
	if t := get(ptp.HeaderTopic); t != "" {
		r.Topic = t
	}
	if id := get(ptp.HeaderMessageID); id != "" {
		r.MessageID = id
	}
	if t := get(ptp.HeaderTimeout); t != "" {
		ms, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil {
			return ptp.Errorf(ptp.BadRequest, "header %s: %q is not a whole number of milliseconds", ptp.HeaderTimeout, t)
		}
		r.Timeout = ms
	}
	return nil
}

// chanBody is the JSON body of /v1/interconn/chan/*. The spec names the
// bytes "payload" on push; some clients send "content".
type chanBody struct {
	Topic    string            `json:"topic"`
	Payload  []byte            `json:"payload"`
	Content  []byte            `json:"content"`
	Metadata map[string]string `json:"metadata"`
	Timeout  int64             `json:"timeout"`
}

// errNoPayload refuses a JSON push that names no payload: an empty message
// is sent as one, so that a forgotten field is never stored as 0 bytes.
var errNoPayload = ptp.Errorf(ptp.BadRequest, `payload is missing; send "payload":"" for an empty message`)

// decodeJSON reads a JSON chan body into a Request for method m. An empty
// body is an empty request, except for a push, which needs its payload
// ("payload" or "content", "" for an empty message).
func decodeJSON(m ptp.Method, body []byte) (Request, error) {
	r := Request{Method: m}
	if len(bytes.TrimSpace(body)) == 0 {
		if m == ptp.Push {
			return r, errNoPayload
		}
		return r, nil
	}
	var b chanBody
	if err := json.Unmarshal(body, &b); err != nil {
		return r, ptp.Errorf(ptp.BadRequest, "body is not a valid %s request: %v", m, jsonProblem(err))
	}
	r.Topic, r.Metadata, r.Timeout = b.Topic, b.Metadata, b.Timeout
	r.Payload = b.Payload
	if r.Payload == nil {
		r.Payload = b.Content
	}
	if m == ptp.Push && r.Payload == nil { // encoding/json leaves nil only when absent or null
		return r, errNoPayload
	}
	return r, nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, kind(te.Type.String()), te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func kind(goType string) string {
	switch goType {
	case "[]uint8":
		return "a base64 string"
	case "int64":
		return "a whole number"
	case "map[string]string":
		return "an object of strings"
	}
	return "a " + goType
}

// payloadForm is how the payload of an inbound invoke (or transport
// message) is read.
type payloadForm int

// The forms of an inbound payload.
const (
	payloadRaw   payloadForm = iota // the payload is the message itself
	payloadProto                    // protobuf PushInbound/PopInbound/... (gRPC-form x-ptp-uri)
	payloadJSON                     // JSON chan body, or the older Mesh's JSON Inbound envelope (HTTP-form x-ptp-uri)
)

// invokeRule is the one decision table for an inbound invoke or transport
// payload. It never guesses: each row follows from the headers alone, and a
// payload that does not decode as its row says is refused, never stored.
//
//	x-mesh-form  x-ptp-uri            x-ptp-topic  payload read as                      who sends it
//	raw          any or none          required     the message (raw)                    Mesh (marks its own deliveries)
//	other value  -                    -            refused 400                          -
//	absent       none                 set          the message (raw push)               Kuscia
//	absent       none                 absent       refused 400                          -
//	absent       gRPC form (a)        any          strict protobuf inner request (b)    the older Mesh, FATE, Mesh before the marker (c)
//	absent       HTTP form (d)        any          JSON chan body or JSON envelope (e)  the older Mesh over HTTP, JSON clients
//	absent       names no method      -            refused 617                          -
//
// (a) a bare /org.ppc.ptp.PrivateTransferTransport/push, grpcs://host/..., or
// the org.ppc.grpc_ptp package. (b) no unknown fields, every byte consumed;
// with x-ptp-topic set, the inner topic must be non-empty and equal to it.
// (c) Mesh before the marker sent x-ptp-uri, x-ptp-topic and a raw payload:
// it is refused with 400, not mis-stored — unless the raw bytes happen to be
// a valid PushInbound whose topic equals the header, which is then read as
// one. (d) /v1/interconn/chan/push or https://host/.... (e) {topic, payload,
// metadata} when a topic is in the body or x-ptp-topic; else
// {"metadata":{...},"payload":"<base64 of JSON PushInbound>"}; any other
// shape is refused.
type invokeRule struct {
	Method ptp.Method
	Form   payloadForm
	Kuscia bool // Kuscia's form: no x-ptp-uri, raw payload
}

// ruleFor reads the decision table row of an inbound invoke's headers.
func ruleFor(get headers) (invokeRule, error) {
	form, uri, topic := get(ptp.HeaderForm), get(ptp.HeaderURI), get(ptp.HeaderTopic)
	switch {
	case form != "" && form != ptp.FormRaw:
		return invokeRule{}, ptp.Errorf(ptp.BadRequest, "header %s: %q is not a payload form (the one form is %q)", ptp.HeaderForm, form, ptp.FormRaw)
	case form == ptp.FormRaw && topic == "":
		return invokeRule{}, ptp.Errorf(ptp.BadRequest, "header %s: %s needs the topic in header %s", ptp.HeaderForm, ptp.FormRaw, ptp.HeaderTopic)
	case form == ptp.FormRaw && uri == "":
		return invokeRule{Method: ptp.Push, Form: payloadRaw}, nil
	case uri == "" && topic != "":
		return invokeRule{Method: ptp.Push, Form: payloadRaw, Kuscia: true}, nil
	case uri == "":
		return invokeRule{}, ptp.Errorf(ptp.BadRequest, "missing header %s, and no %s to deliver a raw payload to", ptp.HeaderURI, ptp.HeaderTopic)
	}
	m, f, ok := ptp.ParseURI(uri)
	switch {
	case !ok:
		return invokeRule{}, ptp.Errorf(ptp.NoSuchService, "%s %q names no service of this node", ptp.HeaderURI, uri)
	case form == ptp.FormRaw:
		return invokeRule{Method: m, Form: payloadRaw}, nil
	case f == ptp.FormGRPC:
		return invokeRule{Method: m, Form: payloadProto}, nil
	}
	return invokeRule{Method: m, Form: payloadJSON}, nil
}

// decodeInvoke reads the inner request of an invoke by the decision table
// (see invokeRule), then fills its routing from the headers.
func decodeInvoke(get headers, payload []byte) (Request, error) {
	rule, err := ruleFor(get)
	if err != nil {
		return Request{}, err
	}
	var r Request
	switch rule.Form {
	case payloadRaw:
		r = Request{Method: rule.Method}
		if rule.Method == ptp.Push {
			r.Payload = payload
		}
	case payloadProto:
		r, err = decodeProto(rule.Method, payload)
	case payloadJSON:
		r, err = decodeInvokeJSON(rule.Method, payload, get(ptp.HeaderTopic) != "")
	}
	if err == nil && rule.Form != payloadRaw {
		err = sameTopic(r.Topic, get(ptp.HeaderTopic), rule.Form == payloadProto)
	}
	if err != nil {
		return r, err
	}
	if rule.Kuscia {
		r.Dialect = ptp.DialectKuscia
	}
	return r, applyHeaders(get, &r)
}

// sameTopic checks an inner request's topic against x-ptp-topic: a header
// never silently overrides the topic the payload names. strict requires the
// inner topic even when the header gives one.
func sameTopic(inner, header string, strict bool) error {
	switch {
	case header == "" || inner == header:
		return nil
	case inner == "" && !strict:
		return nil
	case inner == "":
		return ptp.Errorf(ptp.BadRequest, "payload names no topic but header %s is %q: a raw payload needs header %s: %s", ptp.HeaderTopic, header, ptp.HeaderForm, ptp.FormRaw)
	}
	return ptp.Errorf(ptp.BadRequest, "payload names topic %q but header %s is %q", inner, ptp.HeaderTopic, header)
}

// decodeProto reads the protobuf inner request of a gRPC-form invoke,
// strictly: every byte must belong to a known field.
func decodeProto(m ptp.Method, body []byte) (Request, error) {
	r := Request{Method: m}
	var err error
	switch m {
	case ptp.Push:
		in := &ptp.PushInbound{}
		err = strictUnmarshal(body, in)
		r.Topic, r.Payload, r.Metadata = in.Topic, in.Payload, in.Metadata
	case ptp.Pop:
		in := &ptp.PopInbound{}
		err = strictUnmarshal(body, in)
		r.Topic, r.Timeout = in.Topic, int64(in.Timeout)
	case ptp.Peek:
		in := &ptp.PeekInbound{}
		err = strictUnmarshal(body, in)
		r.Topic = in.Topic
	case ptp.Release:
		in := &ptp.ReleaseInbound{}
		err = strictUnmarshal(body, in)
		r.Topic = in.Topic
	}
	if err != nil {
		return Request{Method: m}, ptp.Errorf(ptp.BadRequest, "payload is not a valid protobuf %s request: %v", m, err)
	}
	return r, nil
}

// strictUnmarshal decodes body into msg, refusing unknown fields.
func strictUnmarshal(body []byte, msg proto.Message) error {
	if err := proto.Unmarshal(body, msg); err != nil {
		return err
	}
	if u := msg.ProtoReflect().GetUnknown(); len(u) > 0 {
		return ptp.Errorf(ptp.BadRequest, "%d bytes of unknown fields", len(u))
	}
	return nil
}

// jsonEnvelope is the older Mesh's JSON Inbound: PTP headers in metadata,
// and payload the base64 of a JSON PushInbound.
type jsonEnvelope struct {
	Metadata map[string]string `json:"metadata"`
	Payload  []byte            `json:"payload"`
}

// jsonPush is the JSON PushInbound inside a jsonEnvelope.
type jsonPush struct {
	Topic    string            `json:"topic"`
	Payload  []byte            `json:"payload"`
	Metadata map[string]string `json:"metadata"`
}

// decodeInvokeJSON reads an HTTP-form inner request: the older Mesh's
// envelope when the body names no topic and its payload is a JSON
// PushInbound, else a chan body — which, naming no topic, needs
// x-ptp-topic (headerTopic).
func decodeInvokeJSON(m ptp.Method, body []byte, headerTopic bool) (Request, error) {
	if m != ptp.Push || hasKey(body, "topic") {
		return decodeJSON(m, body)
	}
	r, err := decodeEnvelope(body)
	if err != nil && headerTopic && !isEnvelope(body) {
		return decodeJSON(m, body)
	}
	return r, err
}

// isEnvelope reports whether body has the shape of an Inbound envelope
// whose payload is a JSON object: then it is read as one or refused.
func isEnvelope(body []byte) bool {
	var env jsonEnvelope
	if json.Unmarshal(body, &env) != nil {
		return false
	}
	return hasKey(env.Payload, "topic")
}

// decodeEnvelope reads the older Mesh's JSON Inbound envelope, strictly.
func decodeEnvelope(body []byte) (Request, error) {
	var env jsonEnvelope
	if err := strictJSON(body, &env); err != nil {
		return Request{}, ptp.Errorf(ptp.BadRequest, "body is neither a chan push {topic, payload} nor an Inbound envelope {metadata, payload}: %v", err)
	}
	var in jsonPush
	if err := strictJSON(env.Payload, &in); err != nil {
		return Request{}, ptp.Errorf(ptp.BadRequest, "Inbound envelope: payload is not a JSON PushInbound {topic, payload}: %v", err)
	}
	if in.Topic == "" {
		return Request{}, ptp.Errorf(ptp.BadRequest, "Inbound envelope: its PushInbound names no topic")
	}
	md := in.Metadata
	if md == nil {
		md = messageMetadata(env.Metadata)
	}
	if in.Payload == nil {
		// The older Mesh writes its PushInbound with omitempty (protoc-gen-go
		// tags): no "payload" there is its empty message, as in protobuf.
		in.Payload = []byte{}
	}
	return Request{Method: ptp.Push, Topic: in.Topic, Payload: in.Payload, Metadata: md}, nil
}

// strictJSON decodes one JSON value into v, refusing unknown fields and
// anything after the value. It is the one decoder of control bodies (see
// boundedOp) and of the older Mesh's envelope; the PTP chan bodies stay
// lenient (decodeJSON), since peers' and clients' fields vary.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// hasKey reports whether body is a JSON object with key at its top level.
func hasKey(body []byte, key string) bool {
	var top map[string]json.RawMessage
	_ = json.Unmarshal(body, &top)
	_, ok := top[key]
	return ok
}
