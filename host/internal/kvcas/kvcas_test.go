package kvcas

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestConflictForms: every form in which nats.go reports a lost
// compare-and-swap counts as a conflict, and nothing else does.
func TestConflictForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"key exists", jetstream.ErrKeyExists, true},
		{"revision mismatch", jetstream.ErrKeyRevisionMismatch, true},
		{"wrapped revision mismatch", fmt.Errorf("store: %w", jetstream.ErrKeyRevisionMismatch), true},
		{"api 10071", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}, true},
		{"api 10164", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequenceConstant}, true},
		{"wrapped api 10164", fmt.Errorf("update: %w", &jetstream.APIError{Code: 400, ErrorCode: 10164}), true},
		{"other api error", &jetstream.APIError{Code: 503, ErrorCode: jetstream.JSErrCodeJetStreamNotEnabled}, false},
		{"key not found", jetstream.ErrKeyNotFound, false},
		{"timeout", nats.ErrTimeout, false},
		{"plain", errors.New("wrong last sequence"), false},
	} {
		if got := Conflict(tc.err); got != tc.want {
			t.Errorf("%s (%v): Conflict = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestConflictFromServer: the errors a real server returns for a lost
// Create and a stale Update are conflicts.
func TestConflictFromServer(t *testing.T) {
	srv, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), DontListen: true, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cas"})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Create(ctx, "k", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "k", []byte("2")); !Conflict(err) {
		t.Fatalf("second create: %v is not a conflict", err)
	}
	if _, err := kv.Update(ctx, "k", []byte("3"), rev); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "k", []byte("4"), rev); !Conflict(err) {
		t.Fatalf("stale update: %v is not a conflict", err)
	}
}
