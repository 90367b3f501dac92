package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/ppcmesh/mesh/host/ptp"
)

// What a caller is told when a plugin fails. A failure's text (a trap, a
// panic, the guest's own error, an unreadable answer) may carry the
// plugin's configuration or data, so it goes to the node's log only, under
// a short reference; the caller gets the plugin's name, what it was doing,
// whether it timed out, and that reference. Errors the host itself raises
// about a plugin (not installed, retired) carry a PTP code and pass as
// they are.

// failure logs err, a failure of plugin name, and returns the error for
// the caller: "SUBJECT failed[: timed out] (ref R; ...)", where subject
// names the plugin and its call (e.g. "codec gzip (decode)").
func (r *Registry) failure(code ptp.Code, name, subject string, err error) *ptp.Error {
	var pe *ptp.Error
	if errors.As(err, &pe) && pe.Err == nil {
		return pe // the host's own words, about the plugin's state
	}
	ref := newRef()
	r.log.Error("plugin call failed", "plugin", name, "call", subject, "ref", ref, "err", err)
	how := "failed"
	if errors.Is(err, context.DeadlineExceeded) {
		how = "failed: timed out"
	}
	return &ptp.Error{Code: code, Err: errHidden, Msg: subject + " " + how + " (ref " + ref + "; the node's log has the details)"}
}

// errHidden stands in for a failure's cause, which stays in the node's log.
var errHidden = errors.New("plugin failure; see the node's log")

// newRef is a short random reference joining a reply to a log line.
func newRef() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
