// Package client is the node's own harness client over gRPC or HTTP: push
// to and pop from session queues and read every answer's code, message id
// and delivery as the node gave them, in JSON or raw bodies. `mesh load`,
// the tests and the benchmarks use it. Containers use the public SDK,
// github.com/ppcmesh/mesh/sdk/client/go, whose gRPC dial options Dial
// shares.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host/ptp"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// Client is what both transports offer. Every call is bounded by its ctx:
// cancelling it abandons the call.
type Client interface {
	// Push pushes payload to topic.
	Push(ctx context.Context, topic string, payload []byte) (ptp.Code, error)
	// Pop pops from topic, waiting up to timeout ms; empty on timeout.
	Pop(ctx context.Context, topic string, timeout int) ([]byte, ptp.Code, error)
}

// HTTP is a client of the HTTP container API. Raw sends and receives
// application/octet-stream bodies instead of JSON with base64.
type HTTP struct {
	URL     string // http://host:port
	Session string
	Raw     bool
	Target  string            // target node of pushes; empty for this node
	Client  *http.Client      // default http.DefaultClient
	Headers map[string]string // sent on every call, e.g. x-ptp-token
}

// Answer is a node's whole answer to one chan call over HTTP.
type Answer struct {
	Code     ptp.Code
	Message  string // the node's message
	Payload  []byte // the popped or peeked bytes
	ID       string // id of the message pushed, popped or peeked; "" when none
	Delivery string // of a push to a partner: "delivered", or "queued" in the outbox
}

// Push pushes payload to topic.
func (c *HTTP) Push(ctx context.Context, topic string, payload []byte) (ptp.Code, error) {
	a, err := c.Call(ctx, ptp.Push, topic, payload, 0)
	return a.Code, err
}

// Pop pops from topic, waiting up to timeout ms.
func (c *HTTP) Pop(ctx context.Context, topic string, timeout int) ([]byte, ptp.Code, error) {
	a, err := c.Call(ctx, ptp.Pop, topic, nil, timeout)
	return a.Payload, a.Code, err
}

// Peek returns the head of topic without removing it; empty when none.
func (c *HTTP) Peek(ctx context.Context, topic string) ([]byte, ptp.Code, error) {
	a, err := c.Call(ctx, ptp.Peek, topic, nil, 0)
	return a.Payload, a.Code, err
}

// Release drops topic, or the whole session when topic is empty.
func (c *HTTP) Release(ctx context.Context, topic string) (ptp.Code, error) {
	a, err := c.Call(ctx, ptp.Release, topic, nil, 0)
	return a.Code, err
}

// Call makes one chan call: a push of payload to topic, or a pop (waiting up
// to timeout ms), peek or release of topic (release: of the whole session
// when topic is empty). It returns the node's answer whatever its code; an
// error only when the node cannot be reached or does not answer in PTP.
func (c *HTTP) Call(ctx context.Context, m ptp.Method, topic string, payload []byte, timeout int) (Answer, error) {
	body, ctype := c.body(m, topic, payload, timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/v1/interconn/chan/"+string(m), bytes.NewReader(body))
	if err != nil {
		return Answer{}, err
	}
	c.setHeaders(req, m, topic, ctype, timeout)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	if c.Raw {
		return rawAnswer(resp.Header, data), nil
	}
	return jsonAnswer(m, resp.StatusCode, data)
}

// body is the request body of a call of m, and its content type.
func (c *HTTP) body(m ptp.Method, topic string, payload []byte, timeout int) ([]byte, string) {
	var v map[string]any
	switch m {
	case ptp.Push:
		if c.Raw {
			return payload, "application/octet-stream"
		}
		if payload == nil {
			payload = []byte{} // "payload":"", an empty message; null is refused as a missing payload
		}
		v = map[string]any{"topic": topic, "payload": payload}
	case ptp.Pop:
		v = map[string]any{"topic": topic, "timeout": timeout}
	default:
		v = map[string]any{"topic": topic}
	}
	b, _ := json.Marshal(v)
	return b, "application/json"
}

// setHeaders sets the PTP headers of a call of m on req.
func (c *HTTP) setHeaders(req *http.Request, m ptp.Method, topic, ctype string, timeout int) {
	req.Header.Set("Content-Type", ctype)
	req.Header.Set(ptp.HeaderSessionID, c.Session)
	if c.Target != "" && m == ptp.Push {
		req.Header.Set(ptp.HeaderTargetNodeID, c.Target)
	}
	if topic != "" && m != ptp.Release {
		req.Header.Set(ptp.HeaderTopic, topic)
	}
	if timeout > 0 {
		req.Header.Set(ptp.HeaderTimeout, strconv.Itoa(timeout))
	}
	if c.Raw {
		req.Header.Set("Accept", "application/octet-stream")
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
}

// rawAnswer reads a raw reply: the bytes, and the code and message in headers.
func rawAnswer(h http.Header, data []byte) Answer {
	code := ptp.Code(h.Get(ptp.HeaderCode))
	msg := h.Get(ptp.HeaderMessage)
	if msg == "" && code != "" {
		msg = code.Message()
	}
	return Answer{Code: code, Message: msg, Payload: data,
		ID: h.Get(ptp.HeaderMessageID), Delivery: h.Get(ptp.HeaderDelivery)}
}

// jsonAnswer reads a JSON reply: ptp.Reply with the content as base64 bytes
// and the metadata the node reports.
func jsonAnswer(m ptp.Method, status int, data []byte) (Answer, error) {
	var r struct {
		ptp.Reply
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Answer{}, fmt.Errorf("%s reply %d: %q", m, status, data)
	}
	a := Answer{Code: r.Code, Message: r.Message, ID: r.Metadata[ptp.HeaderMessageID], Delivery: r.Metadata[ptp.HeaderDelivery]}
	if err := r.Decode(&a.Payload); err != nil {
		return Answer{}, fmt.Errorf("%s reply %d: %w", m, status, err)
	}
	return a, nil
}

func (c *HTTP) httpClient() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return http.DefaultClient
}

// maxPayload is the largest payload Dial's connections carry, above the
// node's default --max-message so that tests can exceed a node's limit.
const maxPayload = 255 << 20

// Dial opens a plaintext gRPC connection to a node with the SDK's dial
// options (meshclient.GRPCDialOptions) for payloads of up to 255 MiB.
func Dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, meshclient.GRPCDialOptions(nil, maxPayload)...)
}

// GRPC is a client of PrivateTransferTransport.
type GRPC struct {
	C       ptp.PrivateTransferTransportClient
	Session string
	Target  string // target node of pushes; empty for this node
}

// NewGRPC returns a client for session over cc.
func NewGRPC(cc *grpc.ClientConn, session string) *GRPC {
	return &GRPC{C: ptp.NewPrivateTransferTransportClient(cc), Session: session}
}

// Outgoing returns ctx with the session header appended to its outgoing
// gRPC metadata, for calls made on C directly.
func (c *GRPC) Outgoing(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, ptp.HeaderSessionID, c.Session)
}

// Push pushes payload to topic.
func (c *GRPC) Push(ctx context.Context, topic string, payload []byte) (ptp.Code, error) {
	ctx = c.Outgoing(ctx)
	if c.Target != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, ptp.HeaderTargetNodeID, c.Target)
	}
	out, err := c.C.Push(ctx, &ptp.PushInbound{Topic: topic, Payload: payload})
	if err != nil {
		return "", err
	}
	return ptp.Code(out.Code), nil
}

// Pop pops from topic, waiting up to timeout ms.
func (c *GRPC) Pop(ctx context.Context, topic string, timeout int) ([]byte, ptp.Code, error) {
	out, err := c.C.Pop(c.Outgoing(ctx), &ptp.PopInbound{Topic: topic, Timeout: int32(timeout)})
	if err != nil {
		return nil, "", err
	}
	return out.Payload, ptp.Code(out.Code), nil
}
