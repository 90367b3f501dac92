package ptp

import "strings"

// Header names of PTP/1.0. They travel as gRPC metadata or HTTP headers and
// are matched case-insensitively (gRPC metadata keys are lower case).
const (
	HeaderVersion          = "x-ptp-version"
	HeaderTechProviderCode = "x-ptp-tech-provider-code"
	HeaderTraceID          = "x-ptp-trace-id"
	HeaderToken            = "x-ptp-token"
	HeaderURI              = "x-ptp-uri"
	HeaderSessionID        = "x-ptp-session-id"
	HeaderSourceNodeID     = "x-ptp-source-node-id"
	HeaderTargetNodeID     = "x-ptp-target-node-id"
	HeaderSourceInstID     = "x-ptp-source-inst-id"
	HeaderTargetInstID     = "x-ptp-target-inst-id"

	// Honoured extras.
	HeaderTopic       = "x-ptp-topic"        // overrides the topic in the body
	HeaderTimeout     = "x-ptp-timeout"      // milliseconds
	HeaderFromNodeID  = "x-ptp-from-node-id" // FATE's alias of x-ptp-source-node-id
	HeaderCode        = "x-ptp-code"         // reply code, on raw HTTP replies
	HeaderMessage     = "x-ptp-message"      // reply message, on raw HTTP replies
	HeaderMessageID   = "x-mesh-message-id"  // a message's id, for de-duplication
	HeaderContentSize = "x-mesh-size"        // payload size in bytes
	HeaderDelivery    = "x-mesh-delivery"    // on a forwarded push: "delivered", or "queued" in the outbox
	HeaderCodec       = "x-mesh-codec"       // the codec plugin a payload is encoded with; on a container push, the codec to use ("none" for none)
	HeaderSender      = "x-mesh-sender"      // on a popped message: "partner" or "container", as the node admitted its sender
)

// Version is the protocol version this node speaks.
const Version = "1.0"

// Reserved reports whether a metadata key is a protocol header (x-ptp-* or
// x-mesh-*) rather than a message's own metadata.
func Reserved(key string) bool {
	k := strings.ToLower(key)
	return strings.HasPrefix(k, "x-ptp-") || strings.HasPrefix(k, "x-mesh-")
}
