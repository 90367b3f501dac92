package api

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// MaxSessionsListed bounds the reply of GET /v1/interconn/sessions: the
// sessions holding the most messages first.
const MaxSessionsListed = 1000

// SessionsPath lists the sessions that hold messages to pop here (an
// operator's endpoint: shell completion of `mesh chan --session` reads it).
const SessionsPath = "/v1/interconn/sessions"

// SessionInfo is one session holding messages to pop on this node.
type SessionInfo struct {
	Session  string `json:"session"`
	Topics   int    `json:"topics"`   // its topics holding messages
	Messages uint64 `json:"messages"` // messages they hold
}

// Sessions is the content of a GET /v1/interconn/sessions reply.
type Sessions struct {
	Sessions  []SessionInfo `json:"sessions"`            // most messages first, at most MaxSessionsListed
	Truncated bool          `json:"truncated,omitempty"` // more sessions hold messages than listed
}

// sessionRoutes serves the session listing on the control router c.
func (h *Handler) sessionRoutes(c chi.Router) {
	c.Get(SessionsPath, func(w http.ResponseWriter, r *http.Request) {
		s, err := h.sessions(r)
		if err != nil {
			writeReply(w, r, fail(err))
			return
		}
		writeJSON(w, ptp.OK, s)
	})
}

// sessions counts the messages held for this node by session.
func (h *Handler) sessions(r *http.Request) (Sessions, error) {
	node := h.ident.NodeID()
	if node == "" {
		return bySession(nil, MaxSessionsListed), nil // no identity yet: nothing can have been pushed here
	}
	keys, err := h.queue.Keys(r.Context(), node)
	if err != nil {
		return Sessions{}, err
	}
	return bySession(keys, MaxSessionsListed), nil
}

// bySession sums the messages of each queue by session: the limit sessions
// holding the most messages, ties by id.
func bySession(keys map[queue.Key]uint64, limit int) Sessions {
	by := map[string]*SessionInfo{}
	for k, n := range keys {
		s := by[k.Session]
		if s == nil {
			s = &SessionInfo{Session: k.Session}
			by[k.Session] = s
		}
		s.Topics++
		s.Messages += n
	}
	out := Sessions{Sessions: make([]SessionInfo, 0, min(len(by), limit))}
	all := make([]SessionInfo, 0, len(by))
	for _, s := range by {
		all = append(all, *s)
	}
	slices.SortFunc(all, func(a, b SessionInfo) int {
		return cmp.Or(cmp.Compare(b.Messages, a.Messages), cmp.Compare(a.Session, b.Session))
	})
	out.Truncated = len(all) > limit
	out.Sessions = append(out.Sessions, all[:min(len(all), limit)]...)
	return out
}
