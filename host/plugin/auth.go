package plugin

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Authorize asks every enabled auth policy, in name order, whether to admit
// req; the first refusal wins. With no policy installed it admits at once.
// Decisions are cached per policy and request for the policy's TTL. A
// policy that fails refuses (fail closed) unless it is installed with
// fail_open. The returned headers are what the policies add to a push.
//
// What the caller is told: a container of this node gets a refusal's
// reason, the policy's own message for it; a partner gets the policy's name
// and a reference (the reason is in the node's log). A policy that fails
// (trap, panic, error, timeout, unreadable answer) is named with a
// reference to the node's log, for every caller: its text never leaves the
// node.
func (r *Registry) Authorize(ctx context.Context, req AuthRequest) (map[string]string, error) {
	if r == nil {
		return nil, nil
	}
	h := r.hot.Load()
	if h == nil || len(h.auth) == 0 {
		return nil, nil
	}
	policies := h.auth
	var headers map[string]string
	for _, l := range policies {
		d, err := r.decide(ctx, l, req)
		if err != nil {
			if l.rec.Options.FailOpen {
				r.log.Warn("auth policy failed; admitting (fail_open)", "plugin", l.rec.Name, "err", err)
				continue
			}
			return nil, r.failure(ptp.Unauthorized, l.rec.Name, "auth policy "+l.rec.Name, err)
		}
		if !d.Allow {
			return nil, r.refusal(l.rec.Name, req, d)
		}
		for k, v := range d.Headers {
			if headers == nil {
				headers = map[string]string{}
			}
			headers[k] = v
		}
	}
	return headers, nil
}

// refusal is what the caller of a refused request is told (see Authorize).
func (r *Registry) refusal(policy string, req AuthRequest, d AuthDecision) *ptp.Error {
	reason := cmp.Or(d.Reason, "no reason given")
	if req.Caller == "container" {
		return ptp.Errorf(ptp.Unauthorized, "refused by auth policy %s: %s", policy, reason)
	}
	ref := newRef()
	r.log.Info("auth policy refused a partner", "plugin", policy, "partner", req.TLSIdentity, "ref", ref, "reason", reason)
	return ptp.Errorf(ptp.Unauthorized, "refused by auth policy %s (ref %s)", policy, ref)
}

// decide returns l's decision on req, from the cache when it is fresh.
func (r *Registry) decide(ctx context.Context, l *loaded, req AuthRequest) (AuthDecision, error) {
	req.Now = 0
	in, _ := json.Marshal(req)
	key := l.rec.Name + "\x00" + l.fp + "\x00" + string(hash(in))
	if d, ok := r.auth.get(key); ok {
		return d, nil
	}
	req.Now = time.Now().Unix()
	in, _ = json.Marshal(req)
	out, err := run(ctx, func() (*loaded, error) { return r.get(l.rec.Name, Auth) }, ExportAuthorize, in) // the current version, if l was replaced meanwhile
	if err != nil {
		return AuthDecision{}, err
	}
	d, err := decodeDecision(out)
	if err != nil {
		return AuthDecision{}, err
	}
	ttl := l.rec.Options.cacheTTL()
	if d.TTLms != 0 {
		ttl = time.Duration(d.TTLms) * time.Millisecond
	}
	if ttl > 0 {
		r.auth.put(key, l.rec.Name, d, time.Now().Add(ttl))
	}
	return d, nil
}

func hash(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// decisions caches auth decisions, bounded in size.
type decisions struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	d       AuthDecision
	policy  string
	expires time.Time
}

const maxDecisions = 50_000

func newDecisions() decisions { return decisions{m: map[string]cached{}} }

func (c *decisions) get(key string) (AuthDecision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.expires) {
		return AuthDecision{}, false
	}
	return e.d, true
}

func (c *decisions) put(key, policy string, d AuthDecision, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxDecisions {
		now := time.Now()
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxDecisions {
			clear(c.m)
		}
	}
	c.m[key] = cached{d, policy, expires}
}

// forget drops the decisions of a policy that changed.
func (c *decisions) forget(policy string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.policy == policy {
			delete(c.m, k)
		}
	}
}
