package main

import (
	"strings"
)

// option is one setting of `mesh start`: a flag, a MESH_* environment
// variable and a key of the --config file, all filling one host.Config
// field. The table below is the only place an option is declared; its
// default is the field's value in host.Defaults().
type option struct {
	name   string // the flag; env and YAML key derive from it (see env, key)
	field  string // the host.Config field it fills
	usage  string
	secret bool   // a token: --NAME-file or env only, never on the command line (see secret.go)
	def    string // the default as --help and the docs say it, when host.Defaults() leaves it to the machine
}

// env is the option's environment variable: MESH_ and the name in upper
// snake case (--max-pop-wait: MESH_MAX_POP_WAIT).
func (o option) env() string {
	return "MESH_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

// key is the option's key in the --config file: the name in snake case;
// a secret's key names the file holding it (admin_token_file).
func (o option) key() string {
	k := strings.ReplaceAll(o.name, "-", "_")
	if o.secret {
		k += "_file"
	}
	return k
}

// flag is the option's flag name; a secret's flag names its file.
func (o option) flag() string {
	if o.secret {
		return o.name + "-file"
	}
	return o.name
}

// startOptions are the options of `mesh start`, in the order --help and
// `mesh config print` show them.
var startOptions = []option{
	{name: "home", field: "Home", usage: "state directory", def: "~/.mesh"},
	{name: "listen", field: "Listen", usage: "address of the one gRPC+HTTP port (also the older Mesh's env PLUGIN_PROXY_TRANSPORT_Y=PORT, which MESH_LISTEN and --listen override)"},
	{name: "admin-token", field: "AdminToken", secret: true, usage: "bearer token that lets non-loopback callers use control endpoints"},
	{name: "container-nets", field: "ContainerNets", usage: `networks containers are admitted from without the container token, CIDRs ("none" for none)`},
	{name: "container-token", field: "ContainerToken", secret: true, usage: "bearer token that admits a container from any network"},
	{name: "host", field: "Hosts", usage: "extra DNS name or IP for the serving certificate (repeatable)"},
	{name: "max-message", field: "MaxMessage", usage: "largest request body or gRPC message, bytes"},
	{name: "max-bytes", field: "MaxBytes", usage: "bytes all queues may hold together"},
	{name: "session-max-bytes", field: "SessionMaxBytes", usage: "bytes one session may hold"},
	{name: "message-ttl", field: "MessageTTL", usage: "unpopped messages expire after this"},
	{name: "release-grace", field: "ReleaseGrace", usage: "how long a released session answers E0000000608"},
	{name: "full-wait", field: "FullWait", usage: "how long a push waits for room before E0000000700"},
	{name: "pop-wait", field: "DefaultPopWait", usage: "pop wait when the caller gives none"},
	{name: "max-pop-wait", field: "MaxPopWait", usage: "longest pop wait; longer pop timeouts are clamped to it"},
	{name: "advertise", field: "Advertise", usage: "address partners reach this node at, told them when weaving", def: "the --listen address when it names a host"},
	{name: "weave-ttl", field: "WeaveTTL", usage: "a partner's handshake that nobody acks lapses after this"},
	{name: "forward-retry", field: "ForwardRetry", usage: "how long a push to a partner retries an unreachable partner before E0000000607"},
	{name: "nats-listen", field: "NATSListen", usage: "open a NATS client port on the embedded server (e.g. 127.0.0.1:4222)"},
	{name: "shutdown-timeout", field: "ShutdownTimeout", usage: "how long in-flight calls get to finish when the node stops"},
	{name: "sync-always", field: "SyncAlways", usage: "fsync every stored message (survives power loss; slower)"},
	{name: "plugin-cache", field: "PluginCache", usage: "wazero's compilation cache of plugins, safe to share between nodes", def: "HOME/plugin-cache"},
	{name: "name", field: "Name", usage: "this replica's name, unique among the node's replicas", def: "HOSTNAME-PORT"},
	{name: "nats-url", field: "NATSURL", usage: "use this external NATS cluster (comma-separated nats:// or tls:// URLs) instead of the embedded server"},
	{name: "nats-creds", field: "NATSCreds", usage: "NATS credentials file for --nats-url"},
	{name: "nats-ca", field: "NATSCA", usage: "PEM file of the CA of the external NATS servers"},
	{name: "cluster-listen", field: "ClusterListen", usage: "route address of the embedded NATS, to cluster with the node's other replicas"},
	{name: "cluster-peers", field: "ClusterPeers", usage: "route addresses of all the replicas, host:port,…"},
	{name: "cluster-name", field: "ClusterName", usage: "name of the replicas' NATS cluster"},
	{name: "cluster-token", field: "ClusterToken", secret: true, usage: "secret the replicas' routes share; required unless they listen on loopback"},
	{name: "cluster-wait", field: "ClusterWait", usage: "how long start waits for enough replicas to form the cluster"},
	{name: "replicas", field: "Replicas", usage: "servers keeping each queue and bucket (0: 3 when the cluster has three or more, else 1)"},
	// operations
	{name: "admin-listen", field: "AdminListen", usage: "serve the control API, /metrics, pprof and the panel on this separate address (e.g. 127.0.0.1:7305); the data port then serves no control endpoints"},
	{name: "log-format", field: "LogFormat", usage: "log format: text or json"},
	{name: "log-level", field: "LogLevel", usage: "log level: debug, info, warn or error"},
	{name: "access-log", field: "AccessLog", usage: "log one line per request: operation, session, topic, bytes, code, duration, caller"},
	{name: "audit-log", field: "AuditLog", usage: "append every control change, with who made it, to this file as JSON lines (they are logged either way)"},
	{name: "otlp-endpoint", field: "OTLPEndpoint", usage: "export OpenTelemetry traces to this OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318); tracing is off without it"},
	// resource bounds
	{name: "max-conns", field: "MaxConns", usage: "connections open at once on the port, idle ones included; past it new ones are closed at once", def: "the open-file limit less 1,024 kept for the store and partners, at most 32,768"},
	{name: "max-streams", field: "MaxStreams", usage: "concurrent streams (calls) on one gRPC or HTTP/2 connection"},
	{name: "max-pops-per-conn", field: "MaxPopsPerConn", usage: "pops waiting at once on one connection, below --max-streams; past it a pop answers E0000000700"},
	{name: "max-pops", field: "MaxPops", usage: "pops waiting at once on the node; past it a pop answers E0000000700"},
	{name: "body-grace", field: "BodyGrace", usage: "time an HTTP request body has before --body-min-rate counts"},
	{name: "body-min-rate", field: "BodyMinRate", usage: "bytes per second an HTTP request body must average after --body-grace; a slower one is cut off with E0000000601"},
}

// notOptions are the host.Config fields that are not options of `mesh
// start`, and why: a program embedding the node, or the binary itself,
// sets them.
var notOptions = map[string]string{
	"Logger":         "built from log-format and log-level",
	"TracerProvider": "injected by a program embedding the node (tests)",
	"Inherit":        "sockets handed over by the previous process in an upgrade",
	"LockWait":       "set by an upgrade's new process while the old one drains",
	"Version":        "the binary's own version",
}

// legacyPortEnv is the older Mesh's variable for the port (`PLUGIN_PROXY_TRANSPORT_Y=17304
// mesh start`, as the PTP usage guide writes it): the node listens on
// :PORT unless MESH_LISTEN or --listen says otherwise.
const legacyPortEnv = "PLUGIN_PROXY_TRANSPORT_Y"

// configEnv names the --config file when the flag is not given.
const configEnv = "MESH_CONFIG"
