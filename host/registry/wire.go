package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Limits and defaults of a registration, in one place.
const (
	// MaxBody bounds the body of a register call.
	MaxBody = 1 << 20
	// MaxServices bounds the services of one registration.
	MaxServices = 256
	// MaxURN bounds a service's urn, in bytes.
	MaxURN = 1024
	// RelativeLimit: a timestamp below it is a validity in ms from now,
	// at or above it an absolute expiry in epoch ms (the older Mesh's rule).
	RelativeLimit = 1_800_000
	// MaxValidity caps how far ahead an absolute timestamp may put the
	// expiry: a registration lives at most this long without a renewal.
	MaxValidity = 24 * time.Hour
	// DefaultValidity is the validity of a registration sent without a
	// timestamp (or with 0).
	DefaultValidity = 300 * time.Second
	// MaxTimeout caps a service's per-attempt timeout.
	MaxTimeout = time.Hour
	// MaxRetries caps a service's retries.
	MaxRetries = 5
	// DefaultHealthInterval and DefaultHealthThreshold fill HealthCheck
	// when attrs leave them out.
	DefaultHealthInterval  = 5 * time.Second
	DefaultHealthThreshold = 3
	// KindComplex is the one registration kind accepted: a dynamic route.
	KindComplex = "complex"
	// KindRestful is the service kind of an HTTP/1.1 upstream.
	KindRestful = "Restful"
)

// The service flags of the older Mesh.
const (
	FlagAsyncable = 1
	FlagEncrypt   = 2
	FlagCommunal  = 4 // reachable by partner nodes: exposed
)

// Registration is the body of POST /v1/interconn/registry/register, the
// older Mesh's JSON as it is sent. Unknown fields are tolerated (peers send
// extras); known ones must have their types.
type Registration struct {
	Name        string            `json:"name"`
	Kind        string            `json:"kind"`
	Address     string            `json:"address"`
	InstanceID  string            `json:"instance_id"`
	Timestamp   Millis            `json:"timestamp"`
	Attachments map[string]string `json:"attachments,omitempty"`
	Content     *Content          `json:"content"`
}

// Content is what a registration registers.
type Content struct {
	Services []Service `json:"services"`
}

// Service is one registered path.
type Service struct {
	URN       string            `json:"urn"`
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace,omitempty"`
	Name      string            `json:"name,omitempty"`
	Version   string            `json:"version,omitempty"`
	Proto     string            `json:"proto,omitempty"`
	Codec     string            `json:"codec,omitempty"`
	Asyncable bool              `json:"asyncable,omitempty"`
	Timeout   int64             `json:"timeout,omitempty"` // ms per attempt; 0: the proxy's default
	Retries   int               `json:"retries,omitempty"`
	Address   string            `json:"address,omitempty"`
	Lang      string            `json:"lang,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
	Flags     int               `json:"flags,omitempty"`
}

// Millis is a timestamp in ms: a JSON number, or a string of digits (the
// PTP guide's table types the field as a string).
type Millis int64

// UnmarshalJSON reads a number or a string of digits.
func (m *Millis) UnmarshalJSON(b []byte) error {
	s := string(b)
	if unq, err := strconv.Unquote(s); err == nil && len(b) > 0 && b[0] == '"' {
		s = unq
	}
	if s == "" || s == "null" {
		*m = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp: %s is not a whole number of ms", b)
	}
	*m = Millis(v)
	return nil
}

// ParseRegistration decodes and validates a register body at time now.
func ParseRegistration(body []byte, now time.Time) (Registration, error) {
	var reg Registration
	if len(body) > MaxBody {
		return reg, ptp.Errorf(ptp.TooLarge, "registration of %d bytes exceeds the limit of %d bytes", len(body), MaxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&reg); err != nil {
		return reg, ptp.Errorf(ptp.BadRequest, "body is not a valid registration: %s", jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return reg, ptp.Errorf(ptp.BadRequest, "body is not a valid registration: data after the JSON value")
	}
	return reg, reg.Validate(now)
}

// jsonError names the field of a type error by its JSON path.
func jsonError(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return fmt.Sprintf("%s: want a %s, not a JSON %s", te.Field, te.Type, te.Value)
	}
	return err.Error()
}

// Validate checks every field, naming the first bad one by its JSON path.
func (r Registration) Validate(now time.Time) error {
	for _, f := range []struct{ name, v string }{
		{"instance_id", r.InstanceID}, {"address", r.Address}, {"name", r.Name}, {"kind", r.Kind},
	} {
		if strings.TrimSpace(f.v) == "" {
			return bad("%s: required", f.name)
		}
		if !printable(f.v) || len(f.v) > MaxURN {
			return bad("%s: at most %d printable bytes, no spaces", f.name, MaxURN)
		}
	}
	if !strings.EqualFold(r.Kind, KindComplex) {
		return bad("kind: %q is not %q (a dynamic route), the one kind this node registers", r.Kind, KindComplex)
	}
	if err := checkAddress(r.Address); err != nil {
		return bad("address: %v", err)
	}
	if _, err := r.Expiry(now); err != nil {
		return err
	}
	return r.validateContent()
}

// validateContent checks the services: at least one, at most MaxServices,
// each valid, no (proto, urn) twice.
func (r Registration) validateContent() error {
	if r.Content == nil {
		return bad("content: required")
	}
	n := len(r.Content.Services)
	if n == 0 {
		return bad("content.services: at least one service is required")
	}
	if n > MaxServices {
		return bad("content.services: %d services, at most %d", n, MaxServices)
	}
	seen := map[string]int{}
	for i, s := range r.Content.Services {
		p, err := s.parse(r.Address)
		if err != nil {
			return bad("content.services[%d].%v", i, err)
		}
		if j, dup := seen[p.key()]; dup {
			return bad("content.services[%d].urn: %s %s again (content.services[%d])", i, p.proto, p.urn, j)
		}
		seen[p.key()] = i
	}
	return nil
}

// Expiry is when the registration ends: timestamp below RelativeLimit a
// validity in ms from now (0: DefaultValidity), else an absolute epoch-ms
// expiry, which must be in the future and at most MaxValidity ahead.
func (r Registration) Expiry(now time.Time) (time.Time, error) {
	ts := int64(r.Timestamp)
	switch {
	case ts < 0:
		return time.Time{}, bad("timestamp: %d is negative", ts)
	case ts == 0:
		return now.Add(DefaultValidity), nil
	case ts < RelativeLimit:
		return now.Add(time.Duration(ts) * time.Millisecond), nil
	}
	if limit := now.Add(MaxValidity); ts > limit.UnixMilli() {
		return time.Time{}, bad("timestamp: %d ms is more than %v ahead (values of %d and more are absolute epoch ms; at most %d now)", ts, MaxValidity, RelativeLimit, limit.UnixMilli())
	}
	exp := time.UnixMilli(ts)
	if !exp.After(now) {
		return time.Time{}, bad("timestamp: the expiry %s is in the past (values of %d and more are absolute epoch ms)", exp.UTC().Format(time.RFC3339), RelativeLimit)
	}
	return exp, nil
}

// bad is a BadRequest naming the field at the start of its message.
func bad(format string, args ...any) error {
	return ptp.Errorf(ptp.BadRequest, format, args...)
}

// printable reports whether s holds no spaces, control bytes or DEL.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}
