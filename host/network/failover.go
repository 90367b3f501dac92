package network

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// failover dials a partner at whichever of its replicas answers, starting
// with the one that answered last, so that a partner running several
// replicas stays reachable while any of them runs. The address the caller
// asks for is ignored: the replicas are the partner's whole address.
type failover struct {
	hosts []string
	last  atomic.Int32
	d     net.Dialer
}

// dialTimeout bounds the connect to one replica: a replica behind a
// partition drops packets rather than refusing.
const dialTimeout = 5 * time.Second

func newFailover(hosts []string) *failover {
	return &failover{hosts: hosts, d: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}}
}

func (f *failover) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	start := int(f.last.Load())
	var errs []error
	for i := range f.hosts {
		j := (start + i) % len(f.hosts)
		c, err := f.d.DialContext(ctx, "tcp", f.hosts[j])
		if err == nil {
			f.last.Store(int32(j))
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// grpcDial is dial in the form grpc.WithContextDialer takes.
func (f *failover) grpcDial(ctx context.Context, addr string) (net.Conn, error) {
	return f.dial(ctx, "tcp", addr)
}
