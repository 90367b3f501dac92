package tracing

// Span names, one per operation: low cardinality by construction (ids and
// names are attributes, never part of a name). docs/tracing.md lists them.
const (
	SpanPush    = "mesh.push"    // a container's push: stored here, or forwarded (server)
	SpanPop     = "mesh.pop"     // a container's pop (server)
	SpanPeek    = "mesh.peek"    // a container's peek (server)
	SpanRelease = "mesh.release" // a container's release (server)
	SpanReceive = "mesh.receive" // a partner's delivery, stored here (server)
	SpanForward = "mesh.forward" // the delivery of a push to a partner, retries included (client)
	SpanPlugin  = "mesh.plugin"  // one plugin call: codec, auth policy, route handler (internal)
	SpanProxy   = "mesh.proxy"   // a call carried to a registered service's upstream (server)
	SpanRoute   = "mesh.route"   // a call a route handler plugin serves (server)
)

// Attribute keys of the node's spans.
const (
	AttrNodeID      = "mesh.node_id"           // this node's id
	AttrSession     = "mesh.session_id"        // the PTP session
	AttrTopic       = "mesh.topic"             // the PTP topic
	AttrMessageID   = "mesh.message_id"        // the message id
	AttrCode        = "mesh.ptp.code"          // the PTP code answered
	AttrBytes       = "mesh.payload_bytes"     // payload size
	AttrPartner     = "mesh.partner.node_id"   // the partner sending (receive) or sent to (forward)
	AttrDialect     = "mesh.partner.dialect"   // the partner route's dialect
	AttrAttempts    = "mesh.forward.attempts"  // delivery attempts made
	AttrRetries     = "mesh.forward.retries"   // attempts after the first
	AttrTransport   = "mesh.forward.transport" // how the last attempt went: grpc-stream, grpc-invoke or http
	AttrDelivery    = "mesh.delivery"          // delivered, or queued in the outbox
	AttrPluginName  = "mesh.plugin.name"       // the plugin called
	AttrPluginKind  = "mesh.plugin.kind"       // its kind: codec, auth, route
	AttrPluginCall  = "mesh.plugin.function"   // the export called: encode, decode, authorize, handle
	AttrService     = "mesh.service"           // the registered route (its path) a proxied call matched
	AttrServiceName = "mesh.service.name"      // the route's registered name
	AttrProto       = "mesh.service.proto"     // http or grpc
	AttrHTTPStatus  = "http.response.status_code"
	AttrRPCMethod   = "rpc.method" // a proxied gRPC call's full method
	AttrHTTPMethod  = "http.request.method"
	AttrURLPath     = "url.path"
	AttrTraceIDOrig = "mesh.ptp.trace_id" // the caller's x-ptp-trace-id, verbatim, when it is not the trace id itself
)
