package api

import (
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Kuscia's HTTP form, as its transport server speaks it
// (secretflow/kuscia pkg/transport/server/http/handler.go): the pop wait
// in the query parameter timeout, whole seconds clamped to 1–300; every
// reply HTTP 200 with Content-Type application/proto and a protobuf
// TransportOutbound{payload=1, code=2, message=3} body (Kuscia's own field
// numbers, pkg/transport/proto/ptp/ptp.proto — not this node's
// ptp.TransportOutbound).
const (
	kusciaTimeout     = "timeout"
	kusciaContentType = "application/proto"
)

// replyWriter is the reply writer of a call: Kuscia's when kuscia, else
// this node's JSON or raw reply.
func replyWriter(kuscia bool) func(http.ResponseWriter, *http.Request, Reply) {
	if kuscia {
		return writeKuscia
	}
	return writeReply
}

// kusciaQuery applies Kuscia's ?timeout=<seconds> to a chan request.
func kusciaQuery(r *http.Request, req *Request) error {
	q := r.URL.Query()
	if !q.Has(kusciaTimeout) {
		return nil
	}
	v := q.Get(kusciaTimeout)
	s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || s < 0 {
		return ptp.Errorf(ptp.BadRequest, "query %s: %q is not a whole number of seconds", kusciaTimeout, v)
	}
	req.Timeout, req.Dialect = kusciaWait(s), ptp.DialectKuscia
	return nil
}

// writeKuscia answers in Kuscia's form.
func writeKuscia(w http.ResponseWriter, _ *http.Request, rep Reply) {
	w.Header().Set("Content-Type", kusciaContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(kusciaOutbound(rep))
}

// kusciaOutbound encodes rep as Kuscia's TransportOutbound.
func kusciaOutbound(rep Reply) []byte {
	b := make([]byte, 0, len(rep.Payload)+len(rep.Code)+len(rep.Message)+16)
	if len(rep.Payload) > 0 {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, rep.Payload)
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, string(rep.Code))
	if rep.Message != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, rep.Message)
	}
	return b
}
