package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ppcmesh/mesh/host/audit"
	"github.com/ppcmesh/mesh/host/internal/loopback"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// controlOps are the operator's changes the audit log records, by path:
// every POST route among the control routes (TestEveryControlChangeIsAudited
// walks the router to keep it so). Reads (GET) are not changes.
var controlOps = map[string]string{
	"/v1/interconn/node/refresh":        "node refresh",
	"/v1/interconn/net/refresh":         "net refresh",
	"/v1/interconn/net/weave":           "net weave",
	"/v1/interconn/net/ack":             "net ack",
	"/v1/interconn/net/remove":          "net remove",
	"/v1/interconn/net/disable":         "net disable",
	"/v1/interconn/net/enable":          "net enable",
	"/v1/interconn/plugin/install":      "plugin install",
	"/v1/interconn/plugin/remove":       "plugin remove",
	"/v1/interconn/plugin/enable":       "plugin enable",
	"/v1/interconn/plugin/disable":      "plugin disable",
	"/v1/interconn/registry/register":   "registry register",
	"/v1/interconn/registry/unregister": "registry unregister",
}

// targetKeys are the fields of a control request or its result that name
// what it changed; nothing else of them (keys, codes, modules) is recorded.
var targetKeys = []string{"node_id", "name", "instance_id", "sha256", "kind", "address"}

// auditNote is what the handlers of one control change tell the audit
// middleware (through the request's context): the target, from the
// decoded request and the result, and the outcome, from the reply.
type auditNote struct {
	target  map[string]string
	code    ptp.Code
	msg     string
	quiet   bool // an identical renewal (a registry heartbeat): not a change
	refused bool // the gate refused the caller: recorded within a bound
}

type auditKey struct{}

func noteOf(ctx context.Context) *auditNote {
	n, _ := ctx.Value(auditKey{}).(*auditNote)
	return n
}

// audited is the middleware of the control routes: each change (a POST of
// controlOps) is recorded once it is answered, with the caller as seen on
// port ("" for the data port). Attempts the gate under it refuses are
// recorded too, but within audit.Log.Refused's bound: anyone who reaches
// the port can make them.
func (h *Handler) audited(port string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			op, ok := controlOps[r.URL.Path]
			if !ok || r.Method != http.MethodPost || h.audit == nil {
				next.ServeHTTP(w, r)
				return
			}
			n := &auditNote{target: map[string]string{}}
			r = r.WithContext(context.WithValue(r.Context(), auditKey{}, n))
			next.ServeHTTP(w, r)
			rec := audit.Record{Operation: op, Target: n.target, Caller: h.caller(r, port), Code: n.code, Message: n.msg}
			switch {
			case n.refused:
				h.audit.Refused(r.Context(), rec)
			case !n.quiet:
				h.audit.Record(r.Context(), rec)
			}
		})
	}
}

// caller is who made a control call, as the node saw them.
func (h *Handler) caller(r *http.Request, port string) string {
	var who string
	_, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case connOf(r.Context()).HasCert():
		who = "partner certificate from " + r.RemoteAddr
	case h.hasToken(r):
		who = "admin-token from " + r.RemoteAddr
	case bearer:
		who = "wrong admin-token from " + r.RemoteAddr
	case loopback.Is(r.RemoteAddr):
		who = "loopback " + r.RemoteAddr
	default:
		who = "no credential from " + r.RemoteAddr
	}
	if port != "" {
		who = port + ": " + who
	}
	return who
}

// noteRefused marks the change in ctx as refused by the gate.
func noteRefused(ctx context.Context) {
	if n := noteOf(ctx); n != nil {
		n.refused = true
	}
}

// noteOutcome records a control reply's code and message.
func noteOutcome(ctx context.Context, code ptp.Code, msg string) {
	if n := noteOf(ctx); n != nil && n.code == "" {
		n.code, n.msg = code, msg
	}
}

// noteTarget records the targetKeys of v (a decoded request or a result)
// not recorded yet.
func noteTarget(ctx context.Context, v any) {
	n := noteOf(ctx)
	if n == nil {
		return
	}
	b, _ := json.Marshal(v)
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(b, &fields)
	for _, k := range targetKeys {
		var s string
		if json.Unmarshal(fields[k], &s) == nil && s != "" && n.target[k] == "" {
			n.target[k] = s
		}
	}
}

// noteRegistration records the registrant — the container's service
// name, instance id and address — as the target, and says whether reg
// is an identical renewal (see renewal).
func noteRegistration(ctx context.Context, store *registry.Store, reg registry.Registration) bool {
	noteTarget(ctx, reg)
	return renewal(store, reg)
}

// renewal says whether reg is an identical renewal of a registration the
// store holds (a heartbeat: only its timestamp differs). Renewals are not
// audited — a container renews every few seconds and would flood the
// log — while a new registration, a changed one and a removal are.
func renewal(store *registry.Store, reg registry.Registration) bool {
	for _, st := range store.List() {
		if st.Name == reg.Name && st.InstanceID == reg.InstanceID {
			held := st.Registration
			held.Timestamp = reg.Timestamp
			a, _ := json.Marshal(held) // as stored: an empty map and none are one
			b, _ := json.Marshal(reg)
			return bytes.Equal(a, b)
		}
	}
	return false
}

// quietAudit marks the change in ctx as not worth a record (a renewal).
func quietAudit(ctx context.Context) {
	if n := noteOf(ctx); n != nil {
		n.quiet = true
	}
}
