package ptp

import (
	"encoding/json"
	"fmt"
)

// Reply is the JSON envelope of every HTTP reply Mesh sends:
// {code, message, content}. It is the one type every client of the HTTP API
// (the control client, the container client, a partner link, the weave
// handshake, the tests) decodes a reply into.
type Reply struct {
	Code    Code            `json:"code"`
	Message string          `json:"message,omitempty"`
	Content json.RawMessage `json:"content,omitempty"`
}

// ParseReply decodes data as a Reply; it fails when data is not JSON or
// carries no code (then it is not a PTP reply at all).
func ParseReply(data []byte) (Reply, error) {
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return Reply{}, fmt.Errorf("not a ptp reply: %w", err)
	}
	if r.Code == "" {
		return Reply{}, fmt.Errorf("not a ptp reply: no code")
	}
	return r, nil
}

// Err is nil for a success reply, else an *Error with the reply's code and
// message.
func (r Reply) Err() error {
	if r.Code == OK {
		return nil
	}
	return &Error{Code: r.Code, Msg: r.Message}
}

// Decode decodes the reply's content into v; an absent content leaves v
// unchanged.
func (r Reply) Decode(v any) error {
	if len(r.Content) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Content, v); err != nil {
		return fmt.Errorf("reply content: %w", err)
	}
	return nil
}
