package plugin

import (
	"context"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Encode runs the codec called name over payload, for sending to a partner.
func (r *Registry) Encode(ctx context.Context, name string, payload []byte) ([]byte, error) {
	return r.code(ctx, name, ExportEncode, payload)
}

// Decode runs the codec called name over a payload a partner encoded.
func (r *Registry) Decode(ctx context.Context, name string, payload []byte) ([]byte, error) {
	return r.code(ctx, name, ExportDecode, payload)
}

// code fails with 616 (codec error) whatever went wrong, naming the codec;
// what the guest said is in the node's log only (see failure.go).
func (r *Registry) code(ctx context.Context, name, fn string, payload []byte) ([]byte, error) {
	if r == nil {
		return nil, ptp.Errorf(ptp.CodecError, "codec %q: this node runs no plugins", name)
	}
	out, err := run(ctx, func() (*loaded, error) { return r.get(name, Codec) }, fn, payload)
	if err != nil {
		return nil, r.failure(ptp.CodecError, name, "codec "+name+" ("+fn+")", err)
	}
	return out, nil
}
