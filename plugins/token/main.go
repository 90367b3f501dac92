// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o token.wasm .

// Command token is Mesh's token auth policy: it admits a request whose
// x-ptp-token is one of the configured tokens and has not expired.
//
// Config "tokens" is a comma-separated list of TOKEN or
// TOKEN@RFC3339-expiry entries. Config "partners" is "allow" (the default:
// partner nodes, proven by their client certificate, need no token) or
// "token" (they need one too). Expiry is judged by the request's "now",
// the host's clock.
package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ppcmesh/mesh/sdk/plugin/go/auth"
	"github.com/ppcmesh/mesh/sdk/plugin/go/pdk"
)

// maxTTL caps how long a decision on an expiring token may be cached, in
// milliseconds (the host's default decision cache).
const maxTTL = 5000

// entry is one configured token.
type entry struct {
	token  []byte
	expiry time.Time // zero: never expires
}

// policy is the parsed configuration.
type policy struct {
	entries       []entry
	partnersToken bool // partners need a token too
}

// The configuration, parsed on the first call of an instance.
var (
	loaded  *policy
	loadErr error
)

func init() { auth.Register(authorize) }

// authorize decides one request.
func authorize(r auth.Request) (auth.Decision, error) {
	if loaded == nil && loadErr == nil {
		tokens, _ := pdk.Config("tokens")
		partners, _ := pdk.Config("partners")
		loaded, loadErr = parse(tokens, partners)
	}
	if loadErr != nil {
		return auth.Decision{}, loadErr
	}
	now := r.Now
	if now == 0 {
		now = time.Now().Unix()
	}
	return loaded.decide(r, now), nil
}

// parse reads the tokens and partners settings.
func parse(tokens, partners string) (*policy, error) {
	p := &policy{}
	switch partners {
	case "", "allow":
	case "token":
		p.partnersToken = true
	default:
		return nil, fmt.Errorf("token: partners must be \"allow\" or \"token\", got %q", partners)
	}
	for i, f := range strings.Split(tokens, ",") {
		e, err := parseEntry(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("token: tokens entry %d: %w", i+1, err)
		}
		if e.token != nil {
			p.entries = append(p.entries, e)
		}
	}
	if len(p.entries) == 0 {
		return nil, errors.New("token: config tokens is empty: give TOKEN or TOKEN@RFC3339-expiry entries, comma-separated")
	}
	return p, nil
}

// parseEntry parses TOKEN or TOKEN@EXPIRY; an empty f is no entry. Its
// errors never repeat the token.
func parseEntry(f string) (entry, error) {
	if f == "" {
		return entry{}, nil
	}
	tok, exp, hasExp := cutLast(f, "@")
	if !hasExp {
		return entry{token: []byte(f)}, nil
	}
	t, err := time.Parse(time.RFC3339, exp)
	if err != nil || tok == "" {
		return entry{}, fmt.Errorf("want TOKEN or TOKEN@RFC3339-expiry such as tok@2030-01-02T15:04:05Z, got an expiry of %q", exp)
	}
	return entry{token: []byte(tok), expiry: t}, nil
}

// cutLast cuts s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// decide admits r if it carries a valid token, or is a partner that needs
// none, at Unix time now.
func (p *policy) decide(r auth.Request, now int64) auth.Decision {
	if r.TLSIdentity != "" && !p.partnersToken {
		return auth.Allow()
	}
	if r.Token == "" {
		return auth.Deny("missing token (x-ptp-token)")
	}
	e, ok := p.find(r.Token)
	if !ok {
		return auth.Deny("unknown token")
	}
	if e.expiry.IsZero() {
		return auth.Allow()
	}
	left := e.expiry.UnixMilli() - now*1000
	if left <= 0 {
		return auth.Deny("token expired at " + e.expiry.UTC().Format(time.RFC3339))
	}
	return auth.Decision{Allow: true, TTLms: ttl(left)}
}

// ttl is the cache time of an admission with left ms to expiry: now is
// in whole seconds, so a second is kept in hand; -1 disables caching.
func ttl(left int64) int64 {
	if left -= 1000; left <= 0 {
		return -1
	}
	return min(left, maxTTL)
}

// find looks tok up, comparing in constant time.
func (p *policy) find(tok string) (entry, bool) {
	var found entry
	ok := false
	for _, e := range p.entries {
		if subtle.ConstantTimeCompare(e.token, []byte(tok)) == 1 {
			found, ok = e, true
		}
	}
	return found, ok
}

// main is never run in a reactor; the package must still have one.
func main() {}
