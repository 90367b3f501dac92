package meshclient

import (
	"strings"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Header names a session's Metadata may hold: the older Mesh client's
// Metadata list (its MESH_* names in the comments) and the container token.
// Names are matched case-insensitively by the node.
const (
	HeaderVersion          = ptp.HeaderVersion          // MESH_VERSION
	HeaderTechProviderCode = ptp.HeaderTechProviderCode // MESH_TECH_PROVIDER_CODE
	HeaderTraceID          = ptp.HeaderTraceID          // MESH_TRACE_ID
	HeaderToken            = ptp.HeaderToken            // MESH_TOKEN
	HeaderURI              = ptp.HeaderURI              // MESH_URI
	HeaderSourceNodeID     = ptp.HeaderSourceNodeID     // MESH_FROM_NODE_ID (the node reports the real sender)
	HeaderSourceInstID     = ptp.HeaderSourceInstID     // MESH_FROM_INST_ID
	HeaderTargetNodeID     = ptp.HeaderTargetNodeID     // MESH_TARGET_NODE_ID
	HeaderTargetInstID     = ptp.HeaderTargetInstID     // MESH_TARGET_INST_ID
	HeaderSessionID        = ptp.HeaderSessionID        // MESH_SESSION_ID (Open sets it)
	HeaderTopic            = ptp.HeaderTopic            // MESH_TOPIC (each call sets it)
	HeaderTimeout          = ptp.HeaderTimeout          // MESH_TIMEOUT, in ms (Pop sets it)
)

// Metadata is the PTP headers of a session, by header name (the Header*
// constants). Pushes send all of them; Pop, Peek and Release send all but
// the target headers, since they read the caller's own node. The session
// id, topic and timeout are the calls' own and override what Metadata says.
type Metadata map[string]string

// perCall are the headers each call sets itself.
var perCall = map[string]bool{HeaderSessionID: true, HeaderTopic: true, HeaderTimeout: true}

// targets are the headers only pushes send.
var targets = map[string]bool{HeaderTargetNodeID: true, HeaderTargetInstID: true}

// headers returns the headers of a call of m in session: md's (lower case)
// without the per-call ones, the target ones kept only on a push, and the
// session id.
func (md Metadata) headers(session string, m ptp.Method) map[string]string {
	out := make(map[string]string, len(md)+1)
	for k, v := range md {
		k = strings.ToLower(k)
		if perCall[k] || (targets[k] && m != ptp.Push) || v == "" {
			continue
		}
		out[k] = v
	}
	out[HeaderSessionID] = session
	return out
}
