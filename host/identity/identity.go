// Package identity keeps the identity of this node — node id, institution,
// root CA and serving certificate — in a JetStream KV bucket, so that it
// survives restarts and is shared by every replica. Only the public part
// ever leaves the package towards callers.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/jserr"
	"github.com/ppcmesh/mesh/host/internal/kvwatch"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Identity is everything the node knows about itself, private keys included.
type Identity struct {
	Version  string      `json:"version"`
	NodeID   string      `json:"node_id"`
	InstID   string      `json:"inst_id"`
	InstName string      `json:"inst_name"`
	Root     pki.KeyPair `json:"root"`
	Serving  pki.KeyPair `json:"serving"`
}

// Public is what the node shows anyone: never a private key.
type Public struct {
	Version  string `json:"version"`
	NodeID   string `json:"node_id"`
	InstID   string `json:"inst_id"`
	InstName string `json:"inst_name"`
	RootCrt  string `json:"root_crt,omitempty"`
	Crt      string `json:"crt,omitempty"`
}

// Refresh is the body of POST /v1/interconn/node/refresh.
type Refresh struct {
	Version  string `json:"version"`
	NodeID   string `json:"node_id"`
	InstID   string `json:"inst_id"`
	InstName string `json:"inst_name"`
	RootCrt  string `json:"root_crt,omitempty"`
	RootKey  string `json:"root_key,omitempty"`
}

// Store holds the identity. It mirrors the bucket, so a refresh made on any
// replica applies on every replica at once.
//
// Reads take no lock: the identity is an immutable snapshot swapped
// atomically, so no request waits on a refresh making keys or storing them.
// Refreshes are serialised by refreshing.
type Store struct {
	kv    jetstream.KeyValue
	hosts []string       // names and addresses for the serving certificate
	watch *kvwatch.Watch // follows the bucket until Close

	cur        atomic.Pointer[snapshot]    // never nil after Open
	renames    atomic.Pointer[RenameCheck] // asked before the node id changes; nil allows every rename
	refreshing sync.Mutex                  // held by the one refresh running here
}

// snapshot is one identity with its bucket revision; never changed once
// published.
type snapshot struct {
	id  Identity
	rev uint64 // revision of id in the bucket; 0 before the first refresh
}

// known returns the identity this replica knows now; a Store that never
// loaded one (the zero Store) knows the zero identity.
func (s *Store) known() *snapshot {
	if c := s.cur.Load(); c != nil {
		return c
	}
	return &snapshot{}
}

// advance publishes id at revision rev unless a newer one is known.
func (s *Store) advance(id Identity, rev uint64) {
	next := &snapshot{id: id, rev: rev}
	for {
		cur := s.cur.Load()
		if cur != nil && cur.rev >= rev {
			return
		}
		if s.cur.CompareAndSwap(cur, next) {
			return
		}
	}
}

const (
	bucket = natsnames.IdentityBucket
	key    = "identity"
)

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckID checks a node or institution id: 1-128 letters, digits, '.', '_'
// or '-', starting with a letter or digit. what names the field in the error.
func CheckID(what, id string) error {
	if !validID.MatchString(id) {
		return ptp.Errorf(ptp.BadRequest, "%s %q: want 1-128 letters, digits, '.', '_' or '-'", what, id)
	}
	return nil
}

// Open loads the stored identity, if any. hosts are the names and addresses
// the serving certificate will carry besides the node id.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, hosts []string) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Storage: jetstream.FileStorage, Replicas: replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("state bucket: %w", err)
	}
	s := &Store{kv: kv, hosts: hosts}
	e, err := kv.Get(ctx, key)
	switch {
	case jserr.NotFound(err):
	case err != nil:
		return nil, fmt.Errorf("load identity: %w", err)
	default:
		var id Identity
		if err := json.Unmarshal(e.Value(), &id); err != nil {
			return nil, fmt.Errorf("stored identity is damaged: %w", err)
		}
		s.advance(id, e.Revision())
	}
	if s.watch, err = kvwatch.Mirror(context.WithoutCancel(ctx), kv, s.apply); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops following the bucket; it returns once no change is being
// applied.
func (s *Store) Close() {
	if s.watch != nil {
		s.watch.Stop()
	}
}

// apply takes a newer identity stored by any replica.
func (s *Store) apply(e jetstream.KeyValueEntry) {
	if e.Key() != key || e.Operation() != jetstream.KeyValuePut {
		return
	}
	var id Identity
	if json.Unmarshal(e.Value(), &id) != nil {
		return // a damaged record is ignored rather than trusted
	}
	s.advance(id, e.Revision())
}

// Current returns the identity, private keys included. Keep it in the node.
func (s *Store) Current() Identity { return s.known().id }

// NodeID is the node's id, empty until the first refresh.
func (s *Store) NodeID() string { return s.Current().NodeID }

// Public returns what may be shown.
func (s *Store) Public() Public { return s.Current().public() }

// Refresh sets the node's identity. Without root material the node keeps its
// root, or makes one the first time, so partners' trust survives a refresh.
// A new serving certificate is issued whenever the id or the root changes.
func (s *Store) Refresh(ctx context.Context, r Refresh) (Public, error) {
	if err := CheckID("node_id", r.NodeID); err != nil {
		return Public{}, err
	}
	if r.InstID != "" {
		if err := CheckID("inst_id", r.InstID); err != nil {
			return Public{}, err
		}
	}
	if (r.RootCrt == "") != (r.RootKey == "") {
		return Public{}, ptp.Errorf(ptp.BadRequest, "root_crt and root_key go together")
	}
	for attempt := range refreshTries {
		if err := s.checkRename(ctx, r.NodeID); err != nil {
			return Public{}, err
		}
		pub, err := s.refresh(ctx, r)
		var lost *lostRace
		if !errors.As(err, &lost) {
			return pub, err
		}
		// Another replica refreshed meanwhile: start again from its identity.
		if err := s.catchUp(ctx, lost.rev, attempt); err != nil {
			return Public{}, err
		}
	}
	return Public{}, ptp.Errorf(ptp.SystemError, "identity changed %d times while being refreshed: try again", refreshTries)
}

const (
	refreshTries = 16                   // compare-and-swap attempts of one refresh
	catchUpTries = 20                   // reads while waiting to see the write that won
	catchUpPause = 5 * time.Millisecond // between two of them
	retrySpread  = 10 * time.Millisecond
)

// lostRace says a refresh made over revision rev lost its compare-and-swap
// to another writer.
type lostRace struct{ rev uint64 }

func (e *lostRace) Error() string { return fmt.Sprintf("identity changed after revision %d", e.rev) }

// catchUp waits, boundedly, until this replica knows an identity newer than
// revision lost — a read of a replicated bucket may be served by a follower
// that has not yet seen the write that won — then pauses a random while
// that grows with attempt, so that writers racing again spread out.
func (s *Store) catchUp(ctx context.Context, lost uint64, attempt int) error {
	for range catchUpTries {
		if err := s.reload(ctx); err != nil {
			return err
		}
		if s.revision() > lost {
			break
		}
		if err := pause(ctx, catchUpPause); err != nil {
			return err
		}
	}
	return pause(ctx, rand.N(retrySpread*time.Duration(attempt+1)))
}

// revision is the bucket revision of the identity this replica knows.
func (s *Store) revision() uint64 { return s.known().rev }

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RenameCheck says whether the node may leave node id from, e.g. because
// nothing is queued under it any more; a non-nil error refuses the rename
// and is what the caller is told.
type RenameCheck func(ctx context.Context, from string) error

// CheckRenames makes every refresh that changes the node id ask check
// first. Call it before the node serves.
func (s *Store) CheckRenames(check RenameCheck) {
	s.renames.Store(&check)
}

// checkRename asks the rename check when to differs from the current id.
func (s *Store) checkRename(ctx context.Context, to string) error {
	from, check := s.Current().NodeID, s.renames.Load()
	if check == nil || *check == nil || from == to {
		return nil
	}
	return (*check)(ctx, from)
}

// reload reads the stored identity.
func (s *Store) reload(ctx context.Context) error {
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("load identity: %w", err)
	}
	s.apply(e)
	return nil
}

// refresh makes the next identity from the current one and stores it if
// the bucket still holds the current one. Refreshes on this replica run one
// at a time; readers never wait for them.
func (s *Store) refresh(ctx context.Context, r Refresh) (Public, error) {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	base := s.known()
	next := base.id
	next.Version, next.NodeID, next.InstID, next.InstName = r.Version, r.NodeID, r.InstID, r.InstName
	if next.Version == "" {
		next.Version = ptp.Version
	}
	if err := next.setRoot(r); err != nil {
		return Public{}, err
	}
	if next.NodeID != base.id.NodeID || string(next.Root.CertPEM) != string(base.id.Root.CertPEM) || next.Serving.CertPEM == nil {
		serving, err := pki.Issue(next.Root, next.NodeID, s.hosts)
		if err != nil {
			return Public{}, fmt.Errorf("issue serving certificate: %w", err)
		}
		next.Serving = serving
	}
	b, _ := json.Marshal(next)
	var rev uint64
	var err error
	if base.rev == 0 {
		rev, err = s.kv.Create(ctx, key, b)
	} else {
		rev, err = s.kv.Update(ctx, key, b, base.rev)
	}
	if jserr.IsConflict(err) {
		return Public{}, &lostRace{rev: base.rev}
	}
	if err != nil {
		return Public{}, fmt.Errorf("store identity: %w", err)
	}
	s.advance(next, rev)
	return next.public(), nil
}

func (id *Identity) setRoot(r Refresh) error {
	switch {
	case r.RootCrt != "":
		kp := pki.KeyPair{CertPEM: []byte(r.RootCrt), KeyPEM: []byte(r.RootKey)}
		cert, _, err := pki.Parse(kp)
		if err != nil {
			return ptp.Errorf(ptp.CertificateError, "root material: %v", err)
		}
		if !cert.IsCA {
			return ptp.Errorf(ptp.CertificateError, "root_crt is not a CA certificate")
		}
		id.Root = kp
	case id.Root.CertPEM == nil:
		root, err := pki.NewRoot(r.NodeID + " root")
		if err != nil {
			return fmt.Errorf("make root: %w", err)
		}
		id.Root = root
	}
	return nil
}

func (c Identity) public() Public {
	return Public{Version: c.Version, NodeID: c.NodeID, InstID: c.InstID, InstName: c.InstName,
		RootCrt: string(c.Root.CertPEM), Crt: string(c.Serving.CertPEM)}
}
