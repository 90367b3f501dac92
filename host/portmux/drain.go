package portmux

import "time"

// Drain stops accepting, as Close does, but first lets the connections
// already accepted finish their sniffing and reach their servers, for up to
// wait; it returns when they have (the servers still run). A successor
// process serving the same socket takes the connections not yet accepted:
// none is dropped. Serve must be running.
func (m *Mux) Drain(wait time.Duration) error {
	m.drainWait.Store(int64(max(wait, 1)))
	err := m.ln.Close()
	t := time.NewTimer(wait + time.Second) // Serve's settle is bounded by wait
	defer t.Stop()
	select {
	case <-m.settled:
	case <-t.C:
	}
	return err
}

// settle, when Serve ends for a Drain, waits up to its bound for the
// routing goroutines, then tells Drain.
func (m *Mux) settle() {
	defer close(m.settled)
	d := time.Duration(m.drainWait.Load())
	if d <= 0 {
		return
	}
	routed := make(chan struct{})
	go func() { m.routes.Wait(); close(routed) }() // no Add now: the accept loop is over
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-routed:
	case <-t.C: // the stragglers are closed next (closeSniffing); the goroutine ends with them
	}
}
