// Package natsnames declares, in one block, every JetStream stream, KV bucket,
// object store and core-NATS subject Mesh uses, with who writes and who
// reads each. Changing one changes what replicas of different versions
// can share: treat them as wire facts.
package natsnames

// Streams and subjects stored in JetStream.
const (
	// QueueStream is the default stream of the session queues. Written by
	// queue.Push (and the outbox parking); read by pop, peek and recount.
	QueueStream = "PTP"
	// QueueHead prefixes the head of each message: ptp.q.<node>.<session>.<topic>.
	// Written by queue.Push; read by pop/peek (first/last by subject).
	QueueHead = "ptp.q."
	// QueueChunk prefixes the further pieces of a large message:
	// ptp.c.<node>.<session>.<topic>.<id>.<i>. Written by queue.Push; read by pop.
	QueueChunk = "ptp.c."
	// QueueAnchor is the subject of the anchor message that keeps the
	// stream's newest block alive. Written and purged by the queue alone.
	QueueAnchor = "ptp.a"
)

// KV buckets and object stores.
const (
	// IdentityBucket holds the node's identity (key "identity"). Written by
	// identity.Store.Refresh; mirrored by every replica's identity.Store.
	IdentityBucket = "mesh_state"
	// RoutesBucket holds the partner routes, one key per partner node id.
	// Written by the weave and net admin calls; mirrored by network's table.
	RoutesBucket = "mesh_routes"
	// ReleasedBucket holds released sessions until their grace ends (TTL).
	// Written by queue.Release; mirrored by every replica's queue.
	ReleasedBucket = "mesh_released"
	// ClaimBucket holds the claims of pops whose delete answer was lost
	// (TTL). Written and read by queue's settle (popdedup.go).
	ClaimBucket = "mesh_pop_claims"
	// PluginsBucket holds the plugin records. Written by plugin install,
	// enable and remove; mirrored by every replica's plugin.Registry.
	PluginsBucket = "mesh_plugins"
	// PluginModules is the object store of plugin modules, by sha256.
	// Written by plugin install; read by plugin.Registry when loading.
	PluginModules = "mesh_plugin_modules"
	// LeaseBucket holds the duties one replica at a time performs (TTL).
	// Written and read by cluster.Lease.
	LeaseBucket = "mesh_leases"
	// HealthBucket holds the replicas' readiness probes. Written and read
	// by cluster's health probe.
	HealthBucket = "mesh_health"
	// RegistryBucket holds the service registrations, one key per name and
	// instance id (each escaped with Token). Written by registry.Store's
	// Register, Unregister and expiry sweeper; mirrored by every replica's
	// registry.Store, which routes by it.
	RegistryBucket = "mesh_registry"
)

// Core-NATS subjects: events between replicas, never stored. Each carries
// an event (package event) and names what it is about after the prefix,
// each id in it escaped with Token.
const (
	// Notify: a message of N bytes was pushed to queue <name>. Sent by the
	// pushing replica's queue; heard by every queue (wakes pops, counts).
	Notify = "mesh.notify."
	// Freed: a message of N bytes was popped from queue <name> (header
	// Mesh-Seq: its sequence). Sent by the popping queue; heard by every queue.
	Freed = "mesh.freed."
	// Dropped: queue <name> was released. Sent and heard by the queues.
	Dropped = "mesh.dropped."
	// Released: session <name> was released. Sent and heard by the queues.
	Released = "mesh.released."
	// AskPopped.<stream>: "did you delete sequence N?", a request one
	// queue's settle sends and every other queue of the stream answers.
	AskPopped = "mesh.ask.popped."
	// OutboxAdded: a replica parked one message (N = 1) for partner
	// <node> (escaped with Token). Sent by network's outbox on the parking
	// replica; heard by every replica's outbox, which counts it unless it
	// is its own.
	OutboxAdded = "mesh.outbox.added."
	// OutboxTotal: N messages are parked for partner <node> (escaped with
	// Token), counted in the queues. Sent by the outbox when it loads and
	// after each delivery round; heard by every other replica's outbox,
	// which takes N as its count.
	OutboxTotal = "mesh.outbox.total."
)

// QueueEvents are the subjects a queue subscribes to: exactly the events it
// handles.
func QueueEvents() []string {
	return []string{Notify + ">", Freed + ">", Dropped + ">", Released + ">"}
}

// OutboxEvents is the subject network's outbox subscribes to: every
// OutboxAdded and OutboxTotal event, and nothing a queue handles.
const OutboxEvents = "mesh.outbox.>"
