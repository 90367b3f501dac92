// Package client is a small PTP container client over gRPC or HTTP: push to
// and pop from a node's session queues. `mesh load`, the tests and the
// benchmarks use it.
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
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Client is what both transports offer.
type Client interface {
	// Push pushes payload to topic.
	Push(topic string, payload []byte) (ptp.Code, error)
	// Pop pops from topic, waiting up to timeout ms; empty on timeout.
	Pop(topic string, timeout int) ([]byte, ptp.Code, error)
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

// Push pushes payload to topic.
func (c *HTTP) Push(topic string, payload []byte) (ptp.Code, error) {
	if c.Raw {
		_, code, err := c.do("push", topic, payload, "application/octet-stream", 0)
		return code, err
	}
	if payload == nil {
		payload = []byte{} // "payload":"", an empty message; null is refused as a missing payload
	}
	body, _ := json.Marshal(map[string]any{"topic": topic, "payload": payload})
	_, code, err := c.do("push", topic, body, "application/json", 0)
	return code, err
}

// Pop pops from topic, waiting up to timeout ms.
func (c *HTTP) Pop(topic string, timeout int) ([]byte, ptp.Code, error) {
	body, _ := json.Marshal(map[string]any{"topic": topic, "timeout": timeout})
	return c.do("pop", topic, body, "application/json", timeout)
}

// Peek returns the head of topic without removing it; empty when none.
func (c *HTTP) Peek(topic string) ([]byte, ptp.Code, error) {
	body, _ := json.Marshal(map[string]any{"topic": topic})
	return c.do("peek", topic, body, "application/json", 0)
}

// Release drops topic, or the whole session when topic is empty.
func (c *HTTP) Release(topic string) (ptp.Code, error) {
	body, _ := json.Marshal(map[string]any{"topic": topic})
	_, code, err := c.do("release", "", body, "application/json", 0)
	return code, err
}

func (c *HTTP) do(method, topic string, body []byte, ctype string, timeout int) ([]byte, ptp.Code, error) {
	req, err := http.NewRequest(http.MethodPost, c.URL+"/v1/interconn/chan/"+method, bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set(ptp.HeaderSessionID, c.Session)
	if c.Target != "" && method == "push" {
		req.Header.Set(ptp.HeaderTargetNodeID, c.Target)
	}
	if topic != "" {
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
	hc := c.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if c.Raw {
		return data, ptp.Code(resp.Header.Get(ptp.HeaderCode)), nil
	}
	var r struct {
		Code    ptp.Code `json:"code"`
		Content []byte   `json:"content"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, "", fmt.Errorf("%s reply %d: %q", method, resp.StatusCode, data)
	}
	return r.Content, r.Code, nil
}

// Dial opens a gRPC connection to a node with message limits for large
// payloads.
func Dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))
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

// Ctx returns a context carrying the session header.
func (c *GRPC) Ctx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), ptp.HeaderSessionID, c.Session)
}

// Push pushes payload to topic.
func (c *GRPC) Push(topic string, payload []byte) (ptp.Code, error) {
	ctx := c.Ctx()
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
func (c *GRPC) Pop(topic string, timeout int) ([]byte, ptp.Code, error) {
	out, err := c.C.Pop(c.Ctx(), &ptp.PopInbound{Topic: topic, Timeout: int32(timeout)})
	if err != nil {
		return nil, "", err
	}
	return out.Payload, ptp.Code(out.Code), nil
}
