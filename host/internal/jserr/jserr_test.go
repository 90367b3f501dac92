package jserr

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/natstest"
)

// api builds the error nats.go returns for an API answer with code.
func api(status int, code jetstream.ErrorCode, desc string) error {
	return &jetstream.APIError{Code: status, ErrorCode: code, Description: desc}
}

// forms are the real error forms Mesh meets, with what each means.
var forms = []struct {
	name string
	err  error
	want Class
}{
	{"nil", nil, Other},
	{"api 10008", api(503, ClusterNotAvailable, "JetStream system temporarily unavailable"), Transient},
	{"api 10023", api(503, InsufficientResources, "insufficient resources"), Full},
	{"api 10037", api(404, NoMessageFound, "no message found"), Missing},
	{"api 10043", api(400, SequenceNotFound, "sequence 7 not found"), Missing},
	{"api 10047", api(500, InsufficientStorage, "insufficient storage resources available"), Full},
	{"api 10057 no message", api(500, MessageDeleteFailed, "no message found"), Missing},
	{"api 10057 other", api(500, MessageDeleteFailed, "stream store closed"), Other},
	{"api 10059", api(404, StreamNotFound, "stream not found"), NoStream},
	{"sentinel stream not found", jetstream.ErrStreamNotFound, NoStream},
	{"api 10071", api(400, WrongLastSequence, "wrong last sequence: 4"), Conflict},
	{"api 10077 full", api(503, StoreFailed, "maximum bytes exceeded"), Full},
	{"api 10077 other", api(503, StoreFailed, "store closed"), Other},
	{"api 10164", api(400, WrongLastSequenceConstant, "wrong last sequence"), Conflict},
	{"wrapped api 10164", fmt.Errorf("update: %w", api(400, 10164, "")), Conflict},
	{"sentinel msg not found", jetstream.ErrMsgNotFound, Missing},
	{"wrapped msg not found", fmt.Errorf("get: %w", jetstream.ErrMsgNotFound), Missing},
	{"key not found", jetstream.ErrKeyNotFound, Missing},
	{"key exists", jetstream.ErrKeyExists, Conflict},
	{"revision mismatch", jetstream.ErrKeyRevisionMismatch, Conflict},
	{"wrapped revision mismatch", fmt.Errorf("store: %w", jetstream.ErrKeyRevisionMismatch), Conflict},
	{"no responders", nats.ErrNoResponders, Transient},
	{"wrapped no responders", fmt.Errorf("jetstream is not answering: %w", nats.ErrNoResponders), Transient},
	{"nats timeout", nats.ErrTimeout, Transient},
	{"deadline", context.DeadlineExceeded, Transient},
	{"no stream response", jetstream.ErrNoStreamResponse, Transient},
	{"reconnecting", nats.ErrConnectionReconnecting, Transient},
	{"disconnected", nats.ErrDisconnected, Transient},
	{"text no message found", errors.New("nats: no message found"), Missing},
	{"text maximum bytes", errors.New("nats: maximum bytes exceeded"), Full},
	{"text insufficient resources", errors.New("nats: insufficient resources"), Full},
	{"text temporarily unavailable", errors.New("jetstream temporarily unavailable"), Transient},
	{"text no responders", errors.New("nats: no responders available for request"), Transient},
	{"text deadline", errors.New("context deadline exceeded (lost type)"), Transient},
	{"text timeout", errors.New("nats: timeout"), Transient},
	{"other api error", api(503, jetstream.JSErrCodeJetStreamNotEnabled, "jetstream not enabled"), Other},
	{"plain", errors.New("wrong last sequence"), Other},
	{"canceled", context.Canceled, Other},
}

// TestClassify: every real form is classified as its caller needs, and
// every row of the table is the one that decides at least one form — so
// dropping a row (or adding one without a form) fails here.
func TestClassify(t *testing.T) {
	used := make([]bool, len(table))
	for _, f := range forms {
		if got := Classify(f.err); got != f.want {
			t.Errorf("%s (%v): Classify = %d, want %d", f.name, f.err, got, f.want)
		}
		if i := match(table, f.err); i >= 0 {
			used[i] = true
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("table row %d %+v decides no form: test it or drop it", i, table[i])
		}
	}
}

// TestPredicates: the named predicates agree with the classes.
func TestPredicates(t *testing.T) {
	for _, f := range forms {
		for _, p := range []struct {
			name string
			fn   func(error) bool
			c    Class
		}{{"NotFound", NotFound, Missing}, {"IsConflict", IsConflict, Conflict},
			{"IsTransient", IsTransient, Transient}, {"IsFull", IsFull, Full}} {
			if got := p.fn(f.err); got != (f.want == p.c) {
				t.Errorf("%s (%v): %s = %v", f.name, f.err, p.name, got)
			}
		}
	}
}

// TestCode: the code is read through wrapping and from nats.go sentinels.
func TestCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want jetstream.ErrorCode
	}{
		{nil, 0},
		{errors.New("x"), 0},
		{api(400, WrongLastSequenceConstant, ""), WrongLastSequenceConstant},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", api(404, StreamNotFound, ""))), StreamNotFound},
		{jetstream.ErrMsgNotFound, NoMessageFound},
		{jetstream.ErrKeyNotFound, 0},
	} {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestUnsent: only the forms that prove a request was not acted on.
func TestUnsent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{api(503, ClusterNotAvailable, ""), true},
		{fmt.Errorf("x: %w", nats.ErrNoResponders), true},
		{nats.ErrConnectionReconnecting, true},
		{nats.ErrTimeout, false},
		{context.DeadlineExceeded, false},
		{api(400, WrongLastSequence, ""), false},
	} {
		if got := Unsent(tc.err); got != tc.want {
			t.Errorf("Unsent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestFromServer: the errors a real server returns for a lost Create, a
// stale Update, a missing key, a missing message and a missing stream are
// classified as such.
func TestFromServer(t *testing.T) {
	js := natstest.JetStream(t)
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
	if _, err := kv.Create(ctx, "k", []byte("2")); !IsConflict(err) {
		t.Fatalf("second create: %v is not a conflict", err)
	}
	if _, err := kv.Update(ctx, "k", []byte("3"), rev); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "k", []byte("4"), rev); !IsConflict(err) {
		t.Fatalf("stale update: %v is not a conflict", err)
	}
	if _, err := kv.Get(ctx, "absent"); !NotFound(err) {
		t.Fatalf("absent key: %v is not missing", err)
	}
	s, err := js.Stream(ctx, "KV_cas")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMsg(ctx, 9999); !NotFound(err) {
		t.Fatalf("absent message: %v is not missing", err)
	}
	if _, err := js.Stream(ctx, "NOPE"); Classify(err) != NoStream {
		t.Fatalf("absent stream: %v is not NoStream", err)
	}
}
