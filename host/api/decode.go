package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/ptp"
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

// decodeJSON reads a JSON chan body into a Request for method m. An empty
// body is an empty request.
func decodeJSON(m ptp.Method, body []byte) (Request, error) {
	r := Request{Method: m}
	if len(strings.TrimSpace(string(body))) == 0 {
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
	return r, nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, kind(te.Type.String()), te.Value)
	}
	return err.Error()
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

// decodeProto reads the protobuf inner request of a gRPC-form invoke.
func decodeProto(m ptp.Method, body []byte) (Request, error) {
	r := Request{Method: m}
	var err error
	switch m {
	case ptp.Push:
		var in ptp.PushInbound
		err = proto.Unmarshal(body, &in)
		r.Topic, r.Payload, r.Metadata = in.Topic, in.Payload, in.Metadata
	case ptp.Pop:
		var in ptp.PopInbound
		err = proto.Unmarshal(body, &in)
		r.Topic, r.Timeout = in.Topic, int64(in.Timeout)
	case ptp.Peek:
		var in ptp.PeekInbound
		err = proto.Unmarshal(body, &in)
		r.Topic = in.Topic
	case ptp.Release:
		var in ptp.ReleaseInbound
		err = proto.Unmarshal(body, &in)
		r.Topic = in.Topic
	}
	if err != nil {
		return r, ptp.Errorf(ptp.BadRequest, "payload is not a valid protobuf %s request: %v", m, err)
	}
	return r, nil
}

// decodeInvoke reads the inner request of an invoke. When the headers name
// the topic, the payload is the message itself (raw); otherwise it encodes the
// inner request in the form its x-ptp-uri implies.
func decodeInvoke(get headers, payload []byte) (Request, error) {
	uri := get(ptp.HeaderURI)
	if uri == "" {
		return Request{}, ptp.Errorf(ptp.BadRequest, "missing header %s", ptp.HeaderURI)
	}
	m, form, ok := ptp.ParseURI(uri)
	if !ok {
		return Request{}, ptp.Errorf(ptp.NoSuchService, "%s %q names no service of this node", ptp.HeaderURI, uri)
	}
	var r Request
	var err error
	switch {
	case get(ptp.HeaderTopic) != "":
		r = Request{Method: m}
		if m == ptp.Push {
			r.Payload = payload
		}
	case form == ptp.FormGRPC:
		r, err = decodeProto(m, payload)
	default:
		r, err = decodeJSON(m, payload)
	}
	if err != nil {
		return r, err
	}
	return r, applyHeaders(get, &r)
}
