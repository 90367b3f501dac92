package host

import (
	"context"
	"fmt"

	"github.com/ppcmesh/mesh/host/ptp"
)

// queuedUnder refuses to rename the node while messages wait under its
// current id: a queue is keyed by the node id, so they would become
// invisible to pop and peek under the new one.
func (h *Host) queuedUnder(ctx context.Context, from string) error {
	keys, err := h.queue.Keys(ctx, from)
	if err != nil {
		return fmt.Errorf("count the messages under node id %q: %w", from, err)
	}
	var n uint64
	for _, c := range keys {
		n += c
	}
	if n == 0 {
		return nil
	}
	return ptp.Errorf(ptp.BadRequest, "%d messages wait under node id %q in %d queues; pop them or release their sessions before renaming the node",
		n, from, len(keys))
}
