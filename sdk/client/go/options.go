package meshclient

import (
	"crypto/tls"
	"net/http"
	"time"
)

// Defaults of a Transport. DefaultMaxMessage is the node's own default
// --max-message; a node configured higher needs WithMaxMessage to match.
const (
	DefaultMaxMessage = 128 << 20         // largest payload pushed or popped
	DefaultWindow     = 16                // pushes in flight in PushMany when window is 0
	DefaultTimeout    = 0                 // no per-call bound beyond the caller's ctx (and a pop's own wait)
	closeTimeout      = 10 * time.Second  // bound of the releases Close makes
	envelopeRoom      = 1 << 20           // room for headers and framing beyond a payload
	nodePopWait       = 120 * time.Second // the node's pop wait when a pop gives none
)

// Option configures a Transport at Dial.
type Option func(*options)

// options is the validated configuration of a Transport.
type options struct {
	http       bool
	tls        *tls.Config
	token      string
	timeout    time.Duration
	maxMessage int
	httpClient *http.Client
}

func defaultOptions() options {
	return options{maxMessage: DefaultMaxMessage, timeout: DefaultTimeout}
}

// WithHTTP speaks the node's HTTP container API
// (POST /v1/interconn/chan/...) instead of gRPC: payloads travel as raw
// application/octet-stream bodies on keep-alive connections.
func WithHTTP() Option { return func(o *options) { o.http = true } }

// WithTLS dials the node over TLS with cfg (https for HTTP).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg.Clone() } }

// WithToken sends the node's container token on every call, as
// Authorization: Bearer token (mesh start --container-token).
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTimeout bounds every call to d beyond the caller's ctx (a whole
// PushMany counts as one call); a pop's own wait is added to it. 0 (the
// default) leaves calls bounded by ctx alone.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxMessage sets the largest payload the client pushes or accepts
// (default DefaultMaxMessage, the node's default); a push above it fails
// with ErrTooLarge before anything is sent. Keep it at least the node's
// --max-message: a popped message above it fails with ErrTooLarge after
// the node removed it.
func WithMaxMessage(n int) Option { return func(o *options) { o.maxMessage = n } }

// WithHTTPClient makes an HTTP Transport send through c (its own TLS and
// proxy settings apply; WithTLS is then ignored).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }
