package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/ppcmesh/mesh/host/ptp"
)

// maxControlReply bounds the control reply a client reads.
const maxControlReply = 16 << 20

// Control is a client of a node's control API (node, net and plugin
// endpoints, /stats and /healthz): `mesh` is a thin layer over it. Every
// reply is a ptp.Reply.
type Control struct {
	URL   string       // scheme://host:port
	Name  string       // the node as errors name it; default URL
	HTTP  *http.Client // default http.DefaultClient
	Token string       // admin bearer token; loopback callers need none
}

// Call sends body to path (a GET when body is nil) and decodes the reply's
// content into out (when not nil). A failure reply is a *ptp.Error with the
// node's code and message.
func (c *Control) Call(ctx context.Context, path string, body, out any) error {
	r, _, err := c.Do(ctx, path, body)
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(r.Content, out); err != nil {
		return fmt.Errorf("reply of %s %s: %w", method(body), path, err)
	}
	return nil
}

// Do sends body to path (a GET when body is nil) and returns the node's
// reply, whatever its code, and the HTTP status; an error when the node
// cannot be reached or its answer is not a PTP reply.
func (c *Control) Do(ctx context.Context, path string, body any) (ptp.Reply, int, error) {
	req, err := c.request(ctx, path, body)
	if err != nil {
		return ptp.Reply{}, 0, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return ptp.Reply{}, 0, fmt.Errorf("node at %s: %w", c.name(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxControlReply))
	if err != nil {
		return ptp.Reply{}, resp.StatusCode, fmt.Errorf("node at %s: %w", c.name(), err)
	}
	r, err := ptp.ParseReply(data)
	if err != nil {
		return ptp.Reply{}, resp.StatusCode, fmt.Errorf("node at %s answered HTTP %d without a PTP reply: %.200q", c.name(), resp.StatusCode, data)
	}
	return r, resp.StatusCode, nil
}

// request builds the call of path with body (JSON) and the admin token.
func (c *Control) request(ctx context.Context, path string, body any) (*http.Request, error) {
	rd := io.Reader(nil)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("body of %s: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method(body), c.URL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("node address %q: %w", c.name(), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// method is GET without a body, POST with one.
func method(body any) string {
	if body == nil {
		return http.MethodGet
	}
	return http.MethodPost
}

func (c *Control) name() string {
	if c.Name != "" {
		return c.Name
	}
	return c.URL
}

func (c *Control) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}
