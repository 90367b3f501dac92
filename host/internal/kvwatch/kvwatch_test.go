package kvwatch

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/lifetest"
	"github.com/ppcmesh/mesh/host/internal/natstest"
)

func bucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	js := natstest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "w"})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestMirrorLoadsThenFollows: the stored entries are applied before Mirror
// returns, later changes after.
func TestMirrorLoadsThenFollows(t *testing.T) {
	kv := bucket(t)
	ctx := context.Background()
	if _, err := kv.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	w, err := Mirror(ctx, kv, func(jetstream.KeyValueEntry) { n.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if n.Load() != 1 {
		t.Fatalf("applied %d entries before Mirror returned, want 1", n.Load())
	}
	if _, err := kv.Put(ctx, "b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return n.Load() == 2 })
}

// TestStopWaitsForApply: Stop returns only after the apply in progress has
// returned, and nothing is applied after it.
func TestStopWaitsForApply(t *testing.T) {
	kv := bucket(t)
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	var after atomic.Bool
	var stopped atomic.Bool
	w, err := Mirror(ctx, kv, func(e jetstream.KeyValueEntry) {
		if stopped.Load() {
			after.Store(true)
		}
		if e.Key() == "block" {
			close(entered)
			<-release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "block", nil); err != nil {
		t.Fatal(err)
	}
	<-entered
	lifetest.Waits(t, "Stop", func() { w.Stop(); stopped.Store(true) }, func() { close(release) })
	if _, err := kv.Put(ctx, "late", nil); err != nil {
		t.Fatal(err)
	}
	w.Stop() // a second Stop is harmless
	if after.Load() {
		t.Fatal("apply ran after Stop returned")
	}
}

// TestMirrorCanceled: a context already over fails Mirror and leaves
// nothing running.
func TestMirrorCanceled(t *testing.T) {
	kv := bucket(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if w, err := Mirror(ctx, kv, func(jetstream.KeyValueEntry) {}); err == nil {
		w.Stop()
		t.Fatal("Mirror with a canceled context succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
