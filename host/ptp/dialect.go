package ptp

// Dialect is how a peer implementation speaks PTP on the wire. The rules of
// each dialect, inbound and outbound, are tabled once (see the README's
// "Dialects" section); this names them.
type Dialect string

// The dialects met in the field.
const (
	DialectMesh   Dialect = "mesh"   // this implementation: transport streams, raw payloads marked with HeaderForm
	DialectLegacy Dialect = "legacy" // the older Go Mesh: unary invoke, headers in gRPC metadata, PushInbound payload, gzip
	DialectKuscia Dialect = "kuscia" // SecretFlow's Kuscia: invoke without x-ptp-uri, raw payload, seconds timeouts
)

// HeaderForm marks how a Mesh node encoded an invoke's or a stream
// message's payload, so a Mesh receiver never has to guess. Its one value
// is FormRaw.
const HeaderForm = "x-mesh-form"

// FormRaw is the HeaderForm value of a payload that is the message itself.
const FormRaw = "raw"
