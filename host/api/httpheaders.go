package api

import (
	"net/http"
	"net/textproto"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/tracing"
)

// canonical is the canonical HTTP spelling of every header name a call's
// decoding reads (applyHeaders, ruleFor), computed once: http.Header.Get
// would canonicalize the lower-case name, allocating, on every request.
var canonical = func() map[string]string {
	names := []string{ptp.HeaderVersion, ptp.HeaderTechProviderCode, ptp.HeaderTraceID, ptp.HeaderToken, ptp.HeaderURI,
		ptp.HeaderSessionID, ptp.HeaderSourceNodeID, ptp.HeaderTargetNodeID, ptp.HeaderSourceInstID, ptp.HeaderTargetInstID,
		ptp.HeaderTopic, ptp.HeaderTimeout, ptp.HeaderFromNodeID, ptp.HeaderMessageID, ptp.HeaderCodec, ptp.HeaderForm,
		tracing.HeaderParent, tracing.HeaderState, "authorization"}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = textproto.CanonicalMIMEHeaderKey(n)
	}
	return m
}()

// httpHeaders reads h as h.Get does, the names in canonical without
// allocating.
func httpHeaders(h http.Header) headers {
	return func(name string) string {
		k, ok := canonical[name]
		if !ok {
			return h.Get(name)
		}
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}
