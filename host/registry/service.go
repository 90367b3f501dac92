package registry

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ppcmesh/mesh/host/internal/reserved"
)

// Attrs keys a service's attrs may carry; other keys are kept and ignored.
const (
	AttrExposed         = "exposed"          // "true": partners may call it
	AttrPartners        = "partners"         // comma-separated partner node ids (needs exposure)
	AttrBalance         = "balance"          // BalanceRoundRobin or BalanceLeastRequest
	AttrHealthPath      = "health_path"      // HTTP GET path of the active check (else TCP)
	AttrHealthInterval  = "health_interval"  // Go duration or ms
	AttrHealthThreshold = "health_threshold" // consecutive results that eject or restore
)

// settings is a service parsed: what a Route needs of it.
type settings struct {
	urn, proto, address string
	prefix, h2, exposed bool
	timeout             time.Duration
	retries             int
	partners            []string
	balance             string
	health              HealthCheck
}

func (p settings) key() string { return p.proto + " " + p.urn }

// parse validates s (fallback: the registration's address) into its
// settings; an error names the field after "content.services[i].".
func (s Service) parse(fallback string) (settings, error) {
	p := settings{proto: strings.ToLower(s.Proto), urn: s.URN, address: s.Address, balance: BalanceRoundRobin,
		health: HealthCheck{Interval: DefaultHealthInterval, Threshold: DefaultHealthThreshold}}
	if p.proto == "" {
		p.proto = ProtoHTTP
	}
	if p.proto != ProtoHTTP && p.proto != ProtoGRPC {
		return p, fmt.Errorf("proto: %q is neither %q nor %q", s.Proto, ProtoHTTP, ProtoGRPC)
	}
	var err error
	if p.prefix, err = checkURN(s.URN, p.proto); err != nil {
		return p, fmt.Errorf("urn: %v", err)
	}
	p.h2 = p.proto == ProtoGRPC || s.Kind != KindRestful
	if p.address == "" {
		p.address = fallback
	}
	if err := checkAddress(p.address); err != nil {
		return p, fmt.Errorf("address: %v", err)
	}
	if err := p.limits(s); err != nil {
		return p, err
	}
	p.exposed = s.Flags&FlagCommunal != 0
	return p, p.attrs(s.Attrs)
}

// limits checks flags, timeout and retries.
func (p *settings) limits(s Service) error {
	if s.Flags < 0 {
		return fmt.Errorf("flags: %d is negative", s.Flags)
	}
	if s.Timeout < 0 || time.Duration(s.Timeout)*time.Millisecond > MaxTimeout {
		return fmt.Errorf("timeout: %d ms is outside 0..%d (0: the proxy's default)", s.Timeout, MaxTimeout.Milliseconds())
	}
	if s.Retries < 0 || s.Retries > MaxRetries {
		return fmt.Errorf("retries: %d is outside 0..%d", s.Retries, MaxRetries)
	}
	p.timeout, p.retries = time.Duration(s.Timeout)*time.Millisecond, s.Retries
	return nil
}

// attrs reads the keys Mesh gives a meaning to.
func (p *settings) attrs(a map[string]string) error {
	for _, step := range []func(map[string]string) error{p.exposure, p.balancing, p.healthCheck} {
		if err := step(a); err != nil {
			return err
		}
	}
	return nil
}

func (p *settings) exposure(a map[string]string) error {
	if v, ok := a[AttrExposed]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("attrs.%s: %q is not true or false", AttrExposed, v)
		}
		p.exposed = p.exposed || b
	}
	v, ok := a[AttrPartners]
	if !ok {
		return nil
	}
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		if id == "" || !printable(id) {
			return fmt.Errorf("attrs.%s: %q is not a comma-separated list of node ids", AttrPartners, v)
		}
		p.partners = append(p.partners, id)
	}
	if !p.exposed {
		return fmt.Errorf("attrs.%s: names partners of a service that is not exposed (set flags bit 4 or attrs.%s \"true\")", AttrPartners, AttrExposed)
	}
	return nil
}

func (p *settings) balancing(a map[string]string) error {
	v, ok := a[AttrBalance]
	switch {
	case !ok || v == "":
	case v == BalanceRoundRobin, v == BalanceLeastRequest:
		p.balance = v
	default:
		return fmt.Errorf("attrs.%s: %q is neither %s nor %s", AttrBalance, v, BalanceRoundRobin, BalanceLeastRequest)
	}
	return nil
}

func (p *settings) healthCheck(a map[string]string) error {
	if v, ok := a[AttrHealthPath]; ok {
		if !strings.HasPrefix(v, "/") || !printable(v) || len(v) > MaxURN {
			return fmt.Errorf("attrs.%s: %q is not an absolute path", AttrHealthPath, v)
		}
		p.health.Path = v
	}
	if v, ok := a[AttrHealthInterval]; ok {
		d, err := duration(v)
		if err != nil || d < 100*time.Millisecond || d > time.Hour {
			return fmt.Errorf("attrs.%s: %q is not a duration between 100ms and 1h (Go form or ms)", AttrHealthInterval, v)
		}
		p.health.Interval = d
	}
	if v, ok := a[AttrHealthThreshold]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("attrs.%s: %q is not a whole number between 1 and 100", AttrHealthThreshold, v)
		}
		p.health.Threshold = n
	}
	return nil
}

// duration reads a Go duration ("5s") or a whole number of ms ("5000").
func duration(v string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(ms) * time.Millisecond, nil
	}
	return time.ParseDuration(v)
}

// checkURN checks a urn: an absolute clean path of at most MaxURN
// printable bytes; "/*" at the end makes it a prefix, and so, for gRPC,
// does "/" (a whole service, "/pkg.Service/"). None may name the node's own
// endpoints (see Reserved).
func checkURN(urn, proto string) (prefix bool, err error) {
	switch {
	case urn == "":
		return false, fmt.Errorf("required")
	case len(urn) > MaxURN:
		return false, fmt.Errorf("%d bytes, at most %d", len(urn), MaxURN)
	case !strings.HasPrefix(urn, "/"):
		return false, fmt.Errorf("%q is not an absolute path", urn)
	case !printable(urn) || strings.ContainsAny(urn, "?#\\"):
		return false, fmt.Errorf("%q holds a space, a control byte, ?, # or \\", urn)
	}
	base, star := strings.CutSuffix(urn, "/*")
	if star {
		base += "/"
	}
	if strings.Contains(base, "*") {
		return false, fmt.Errorf("%q: * only as the last segment, \"/*\" (a prefix)", urn)
	}
	if !Clean(base) {
		return false, fmt.Errorf("%q is not a clean path (no //, . or .. segments)", urn)
	}
	if Reserved(base) {
		return false, fmt.Errorf("%q is one of the node's own endpoints", urn)
	}
	prefix = star || proto == ProtoGRPC && strings.HasSuffix(base, "/") && base != "/"
	if r, ok := reserved.Covers(base); ok && prefix {
		return false, fmt.Errorf("%q would cover the node's own endpoints (%s)", urn, r)
	}
	return prefix, nil
}

// Clean reports whether path is absolute, holds no backslash, and has no
// empty, "." or ".." segment, also once a segment's ";params" are dropped
// ("..;x" is ".."); a single trailing "/" is allowed. The registry matches
// only clean paths, so that "/open/../closed", "/open/..;/closed" and
// "/open/..\closed" never reach a prefix "/open/*".
func Clean(path string) bool {
	if !strings.HasPrefix(path, "/") || strings.ContainsRune(path, '\\') {
		return false
	}
	rest := strings.TrimSuffix(path[1:], "/")
	if rest == "" {
		return true
	}
	for _, seg := range strings.Split(rest, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// CleanRaw reports whether the raw (still percent-encoded) form of a
// request path is clean too: it must not encode "/", "." or a backslash
// (%2F, %2E, %5C, any case), which some upstreams decode after the
// registry matched the decoded path. Empty raw (no escapes) is clean.
func CleanRaw(raw string) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		switch strings.ToUpper(raw[i+1 : i+3]) {
		case "2F", "2E", "5C":
			return false
		}
	}
	return true
}

// Reserved reports whether path belongs to the node itself: the one list
// of host/internal/reserved (/v1/interconn/, /healthz, /stats, /metrics,
// /debug/pprof/, /panel/, the gRPC services /org.ppc.…, every PTP URI),
// which route handler plugins obey too. A registration may not shadow it.
func Reserved(path string) bool { return reserved.Path(path) }

// checkAddress checks a host:port an upstream listens on.
func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 1..65535", addr, port)
	}
	if host == "" || net.ParseIP(host) == nil && !hostname(host) {
		return fmt.Errorf("%q: %q is neither an IP address nor a host name", addr, host)
	}
	return nil
}

// hostname reports whether h is a DNS name: letters, digits, '-', '_' and
// dots, at most 253 bytes.
func hostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
