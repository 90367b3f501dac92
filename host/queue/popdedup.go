package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ppcmesh/mesh/host/internal/jserr"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
)

// A pop deletes the head it read by sequence; the delete is the
// compare-and-swap that hands the message to one caller. When the delete's
// answer is lost (its stream leader died after applying it), the retry
// answers "gone" and the pop cannot tell its own delete from a competitor's.
// settle decides, on that path only, so that exactly one pop hands the
// message out:
//
//  1. a pop that deleted the message and was told so ("certain") recorded its
//     sequence here and announced it in its freed event: if this replica
//     knows such a pop, the message is not ours;
//  2. else the other replicas are asked (core NATS, one bounded wait) whether
//     one of them knows such a pop, in case the event was missed; an event
//     that arrives during the wait counts too (a competitor told "deleted" by
//     the new leader just before this pop was told "gone" may still be on its
//     way to recording it);
//  3. else every doubtful pop of the message races to create one claim key
//     in a KV bucket; the create is a conditional write whose retry reads
//     back whose claim it stored, so exactly one of them wins.
//
// The common path costs no round trip more: the record is a map insert and
// the sequence rides on the freed event every pop already sends.
const (
	claimBucket = natsnames.ClaimBucket
	claimTTL    = 10 * time.Minute // far longer than a failover (failoverFor)
	askSubject  = natsnames.AskPopped
	askFor      = time.Second // also the time a competitor's freed event has to arrive
	hdrSeq      = "Mesh-Seq"  // sequence of the popped message, on freed events
	poppedGen   = 1 << 14     // sequences kept per generation of the record
)

// popped remembers the sequences recently deleted for certain, by pops of
// this replica or (through their freed events) of others. It keeps two
// generations of at most poppedGen sequences each, so it is bounded.
type popped struct {
	mu       sync.Mutex
	cur, old map[uint64]struct{}
}

func newPopped() *popped {
	return &popped{cur: make(map[uint64]struct{}), old: make(map[uint64]struct{})}
}

// add records seq as deleted for certain.
func (p *popped) add(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cur) >= poppedGen {
		p.old, p.cur = p.cur, make(map[uint64]struct{}, poppedGen)
	}
	p.cur[seq] = struct{}{}
}

// has reports whether seq is recorded as deleted for certain.
func (p *popped) has(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, a := p.cur[seq]
	_, b := p.old[seq]
	return a || b
}

// faults are fault hooks for tests; nil in production.
type faults struct {
	deleting  func(seq uint64)           // runs before a delete of seq is sent
	deleted   func(seq uint64) error     // runs after it was answered; an error replaces the answer
	asked     func(seq uint64, yes bool) // runs after settle asked the others
	anchoring func()                     // runs as a background re-anchor starts
}

// openClaims creates the bucket of claims and answers the other replicas'
// questions about the pops of this one.
func (q *Queue) openClaims(ctx context.Context) error {
	kv, err := q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   claimBucket,
		TTL:      claimTTL,
		Replicas: q.cfg.Replicas,
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("pop-claim bucket: %w", err)
	}
	q.claims = kv
	q.asks, err = q.nc.Subscribe(askSubject+q.cfg.Stream, q.answerAsk)
	if err != nil {
		return fmt.Errorf("subscribe to pop questions: %w", err)
	}
	return nil
}

// answerAsk says yes when this replica knows a certain delete of the asked
// sequence; it stays silent otherwise, so that the asker's wait means no.
func (q *Queue) answerAsk(m *nats.Msg) {
	seq, err := strconv.ParseUint(string(m.Data), 10, 64)
	if err == nil && q.popped.has(seq) {
		_ = m.Respond([]byte(q.cfg.Origin))
	}
}

// settle decides a pop whose delete of seq may have been applied but whose
// retry answered gone: nil hands the message to this pop, errGone to another.
func (q *Queue) settle(ctx context.Context, seq uint64) error {
	if q.popped.has(seq) {
		return errGone
	}
	yes := q.askOthers(ctx, seq)
	if q.hooks != nil && q.hooks.asked != nil {
		q.hooks.asked(seq, yes)
	}
	if yes || q.popped.has(seq) { // its event may have come during the wait
		return errGone
	}
	if err := q.claim(ctx, seq); err != nil {
		return err
	}
	q.popped.add(seq)
	return nil
}

// askOthers reports whether another replica knows a certain delete of seq.
func (q *Queue) askOthers(ctx context.Context, seq uint64) bool {
	actx, cancel := context.WithTimeout(ctx, askFor)
	defer cancel()
	_, err := q.nc.RequestWithContext(actx, askSubject+q.cfg.Stream, strconv.AppendUint(nil, seq, 10))
	return err == nil
}

// claim creates the claim key of seq for this pop; errGone when another
// pop's claim is stored. A create whose answer was lost is retried, and the
// retry reads back which claim the bucket holds.
func (q *Queue) claim(ctx context.Context, seq uint64) error {
	return q.claimAs(ctx, seq, q.cfg.Origin+"/"+nuid.Next())
}

// claimAs is claim with the claim's unique value given.
func (q *Queue) claimAs(ctx context.Context, seq uint64, mine string) error {
	key := q.cfg.Stream + "." + strconv.FormatUint(seq, 10)
	_, err := retry(ctx, func(ctx context.Context) (struct{}, error) {
		_, err := q.claims.Create(ctx, key, []byte(mine))
		if !jserr.IsConflict(err) {
			return struct{}{}, err
		}
		held, err := q.readClaim(ctx, key)
		if err != nil {
			return struct{}{}, err
		}
		if held != mine {
			return struct{}{}, errGone
		}
		return struct{}{}, nil
	})
	if err != nil && !errors.Is(err, errGone) {
		return fmt.Errorf("claim message %d: %w", seq, err)
	}
	return err
}

// readClaim reads the claim stored under key from the bucket's stream
// leader. The KV Get may be a direct get, which a follower answers, and a
// follower can still lack the claim whose create the leader just refused.
func (q *Queue) readClaim(ctx context.Context, key string) (string, error) {
	req := append(append([]byte(`{"last_by_subj":"$KV.`+claimBucket+`.`), key...), `"}`...)
	resp, err := q.nc.RequestWithContext(ctx, jsAPI+"STREAM.MSG.GET.KV_"+claimBucket, req)
	if err != nil {
		return "", err
	}
	if err := answerError(resp.Data); err != nil {
		return "", fmt.Errorf("read claim %s: %w", key, err)
	}
	var a struct {
		Message struct {
			Data []byte `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &a); err != nil {
		return "", fmt.Errorf("read claim %s: %w", key, err)
	}
	return string(a.Message.Data), nil
}
