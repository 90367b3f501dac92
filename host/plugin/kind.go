package plugin

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind names what a plugin does for the node.
type Kind string

// The plugin kinds.
const (
	Codec Kind = "codec" // encodes payloads for a partner, decodes them on receipt
	Auth  Kind = "auth"  // admits or refuses container and partner requests
	Route Kind = "route" // answers, forwards or passes on requests for configured paths
)

// ABI names how the host calls a kind's exports.
type ABI string

// The ABIs. Raw is the thin wazero ABI of the data path (see abi.go);
// Extism is the Extism guest ABI: exports take no arguments, read their
// input and set their output through the extism:host/env imports.
const (
	Raw    ABI = "raw"
	Extism ABI = "extism"
)

// KindSpec is one row of the kinds table.
type KindSpec struct {
	Kind     Kind
	World    string        // the WIT world in wit/mesh-plugin.wit
	ABI      ABI           // how its exports are called
	Exports  []string      // functions the module must export
	Optional []string      // functions the host calls when present
	Timeout  time.Duration // default deadline of one call
}

// Kinds is the one table of plugin kinds: kind → WIT world → ABI and
// required exports. Adapters are chosen by ABI (see load.go).
var Kinds = []KindSpec{
	{Codec, "codec", Raw, []string{ExportAlloc, ExportEncode, ExportDecode}, []string{ExportConfigure}, 10 * time.Second},
	{Auth, "auth-policy", Extism, []string{ExportAuthorize}, nil, 2 * time.Second},
	{Route, "route-handler", Extism, []string{ExportHandle}, nil, 10 * time.Second},
}

// Spec returns the table row of k.
func Spec(k Kind) (KindSpec, error) {
	i := slices.IndexFunc(Kinds, func(s KindSpec) bool { return s.Kind == k })
	if i < 0 {
		return KindSpec{}, fmt.Errorf("unknown plugin kind %q (known: %s)", k, kindNames())
	}
	return Kinds[i], nil
}

// kindNames lists the kinds of the table, for messages.
func kindNames() string {
	names := make([]string, len(Kinds))
	for i, s := range Kinds {
		names[i] = string(s.Kind)
	}
	return strings.Join(names, ", ")
}

// kindNeeds tells what each kind of the table must export, for messages:
// "codec needs alloc+encode+decode, ...", by WIT world.
func kindNeeds() string {
	needs := make([]string, len(Kinds))
	for i, s := range Kinds {
		needs[i] = fmt.Sprintf("%s needs %s", s.World, strings.Join(s.Exports, "+"))
	}
	return strings.Join(needs, ", ")
}

// wasmMagic opens every WebAssembly binary module.
const wasmMagic = "\x00asm"

// IsWasm reports whether b starts as a WebAssembly binary module does: the
// magic and a version, 8 bytes.
func IsWasm(b []byte) bool { return len(b) >= 8 && string(b[:4]) == wasmMagic }
