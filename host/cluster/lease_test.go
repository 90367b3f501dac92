package cluster

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// leases is an embedded NATS alone, for lease tests.
func leases(t *testing.T) *NATS {
	t.Helper()
	n, err := Start(context.Background(), Config{StoreDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// leaseOf is replica owner's lease called name.
func leaseOf(n *NATS, name, owner string) *Lease {
	l := n.Lease(name)
	l.owner = owner
	return l
}

// TestLeaseStep: one step at a time, from each state: a free lease is
// taken, a held one renewed, another's left alone, ours from before a
// restart taken back, and a stale holder loses it.
func TestLeaseStep(t *testing.T) {
	n := leases(t)
	ctx := context.Background()
	a, b := leaseOf(n, "duty", "replica-a"), leaseOf(n, "duty", "replica-b")
	for i, tc := range []struct {
		what  string
		step  *Lease
		want  bool // what step.Held() is after the step
		other *Lease
		held  bool // what other.Held() is
	}{
		{"a takes the free lease", a, true, b, false},
		{"b finds it taken", b, false, a, true},
		{"a renews it", a, true, b, false},
		{"b still finds it taken", b, false, a, true},
	} {
		tc.step.step(ctx)
		if tc.step.Held() != tc.want || tc.other.Held() != tc.held {
			t.Fatalf("step %d, %s: held %v and %v, want %v and %v", i, tc.what, tc.step.Held(), tc.other.Held(), tc.want, tc.held)
		}
	}
	// replica-a restarts: its new process takes its lease back at once.
	a2 := leaseOf(n, "duty", "replica-a")
	if a2.step(ctx); !a2.Held() {
		t.Fatal("a restarted replica did not take its own lease back")
	}
	// The old process's revision is stale now: its renewal fails.
	if a.step(ctx); a.Held() {
		t.Fatal("a holder with a stale revision still holds the lease")
	}
	// Given up, the lease is free for the next replica at once.
	a2.release()
	if a2.Held() {
		t.Fatal("held after release")
	}
	if b.step(ctx); !b.Held() {
		t.Fatal("b could not take a released lease")
	}
}

// TestLeaseChanged: Changed is closed exactly when Held changes.
func TestLeaseChanged(t *testing.T) {
	n := leases(t)
	ctx := context.Background()
	l := leaseOf(n, "duty", "replica-a")
	ch := l.Changed()
	l.step(ctx)
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed when the lease was taken")
	}
	ch = l.Changed()
	l.step(ctx) // a renewal changes nothing
	select {
	case <-ch:
		t.Fatal("Changed closed by a renewal")
	default:
	}
	l.release()
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed on release")
	}
}

// TestLeaseHold: Hold is a lock among replicas: a second holder waits until
// the first releases, and a cancelled wait returns an error.
func TestLeaseHold(t *testing.T) {
	n := leases(t)
	ctx := context.Background()
	release, err := leaseOf(n, "lock", "replica-a").Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := leaseOf(n, "lock", "replica-b").Hold(wctx); err == nil {
		t.Fatal("b holds a lock a holds")
	}
	release()
	hctx, hcancel := context.WithTimeout(ctx, 5*time.Second) // much less than LeaseTTL: released, not expired
	defer hcancel()
	rb, err := leaseOf(n, "lock", "replica-b").Hold(hctx)
	if err != nil {
		t.Fatalf("b after a released: %v", err)
	}
	rb()
}

// TestLeaseRun: Run keeps the lease while it runs and gives it up when
// its context ends.
func TestLeaseRun(t *testing.T) {
	n := leases(t)
	l := leaseOf(n, "duty", "replica-a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !l.Held() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("Run never took the free lease")
		}
		select {
		case <-l.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	<-done
	if l.Held() {
		t.Fatal("held after Run ended")
	}
	other := leaseOf(n, "duty", "replica-b")
	if other.step(context.Background()); !other.Held() {
		t.Fatal("the lease was not given up when Run ended")
	}
}
