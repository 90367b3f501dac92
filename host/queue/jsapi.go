package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/jserr"
)

// The hot path speaks the JetStream API directly: the same requests the
// nats.go wrappers send, without their JSON decoding of every answer,
// which measured as a large share of a pop's cost.
const jsAPI = "$JS.API."

// answerError returns the error an API answer carries, or nil. It is the
// *jetstream.APIError nats.go itself would return, so that jserr classifies
// both paths alike.
func answerError(data []byte) error {
	if !bytes.Contains(data, []byte(`"error"`)) {
		return nil
	}
	var a struct {
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("jetstream answered %q", data)
	}
	if a.Error == nil {
		return nil
	}
	return a.Error
}

// publish stores msg and waits for the stream's acknowledgement.
func (q *Queue) publishSync(ctx context.Context, msg *nats.Msg) error {
	resp, err := q.conn().RequestMsgWithContext(ctx, msg)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("jetstream is not answering: %w", err)
	}
	if err != nil {
		return err
	}
	return answerError(resp.Data)
}

// deleteMsg removes the message at seq. It is the compare-and-swap of a pop:
// errGone means another pop removed it first.
//
// A delete whose answer was lost (the stream leader died after committing
// it, before answering) is retried, and the retry answers errGone. Then the
// delete may have been ours or a competitor's: settle decides (popdedup.go),
// so that exactly one pop hands the message out. A delete answered success
// is recorded, for settle to find.
func (q *Queue) deleteMsg(ctx context.Context, seq uint64) error {
	uncertain := false
	_, err := retry(ctx, func(ctx context.Context) (struct{}, error) {
		err := q.deleteOnce(ctx, seq)
		if errors.Is(err, errGone) && uncertain {
			return struct{}{}, errDoubt
		}
		if transient(err) && !jserr.Unsent(err) {
			uncertain = true // it may have been applied
		}
		return struct{}{}, err
	})
	switch {
	case err == nil:
		q.popped.add(seq)
		return nil
	case errors.Is(err, errDoubt):
		if err := q.settle(ctx, seq); errors.Is(err, errGone) {
			return err
		}
		// Ours, or undecidable (the claim bucket failing over too, the
		// caller gone): the message has left the stream either way, so it
		// is handed out — at least once, never lost.
		return nil
	}
	return err
}

// errDoubt marks a delete that may or may not have been this caller's.
var errDoubt = errors.New("delete may have been applied")

func (q *Queue) deleteOnce(ctx context.Context, seq uint64) error {
	if q.hooks != nil && q.hooks.deleting != nil {
		q.hooks.deleting(seq)
	}
	err := q.sendDelete(ctx, seq)
	if q.hooks != nil && q.hooks.deleted != nil {
		if lost := q.hooks.deleted(seq); lost != nil {
			return lost
		}
	}
	return err
}

func (q *Queue) sendDelete(ctx context.Context, seq uint64) error {
	req := strconv.AppendUint([]byte(`{"seq":`), seq, 10)
	req = append(req, `,"no_erase":true}`...)
	resp, err := q.conn().RequestWithContext(ctx, jsAPI+"STREAM.MSG.DELETE."+q.cfg.Stream, req)
	if err != nil {
		return err
	}
	if bytes.Contains(resp.Data, []byte(`"success":true`)) {
		return nil
	}
	if err := answerError(resp.Data); err != nil && !jserr.NotFound(err) {
		return err
	}
	return errGone // neither success nor an error: nothing was deleted
}

var errGone = errors.New("message is gone")

// firstMsg reads the first message on subject, or returns errGone.
func (q *Queue) firstMsg(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	return retry(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return q.firstOnce(ctx, subject) })
}

func (q *Queue) firstOnce(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	if !q.cfg.DirectGet {
		m, err := q.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
		return m, goneIf(err)
	}
	req := append(append([]byte(`{"seq":1,"next_by_subj":"`), subject...), `"}`...)
	return q.directGet(ctx, jsAPI+"DIRECT.GET."+q.cfg.Stream, req)
}

// lastMsg reads the last message on subject, or returns errGone.
func (q *Queue) lastMsg(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	return retry(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return q.lastOnce(ctx, subject) })
}

func (q *Queue) lastOnce(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	if !q.cfg.DirectGet {
		m, err := q.stream.GetLastMsgForSubject(ctx, subject)
		return m, goneIf(err)
	}
	return q.directGet(ctx, jsAPI+"DIRECT.GET."+q.cfg.Stream+"."+subject, nil)
}

func (q *Queue) directGet(ctx context.Context, api string, req []byte) (*jetstream.RawStreamMsg, error) {
	resp, err := q.conn().RequestWithContext(ctx, api, req)
	if err != nil {
		return nil, err
	}
	if st := resp.Header.Get("Status"); st != "" {
		if st == "404" {
			return nil, errGone
		}
		if st == "503" {
			return nil, nats.ErrNoResponders
		}
		return nil, fmt.Errorf("jetstream direct get: %s %s", st, resp.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(resp.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("jetstream direct get: bad sequence %q", resp.Header.Get(jetstream.SequenceHeader))
	}
	// The store's timestamp: how long a message was stored (api's metrics).
	stored, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(jetstream.TimeStampHeaer))
	return &jetstream.RawStreamMsg{Subject: resp.Header.Get(jetstream.SubjectHeader), Sequence: seq,
		Header: resp.Header, Data: resp.Data, Time: stored}, nil
}

func goneIf(err error) error {
	if jserr.NotFound(err) {
		return errGone
	}
	return err
}
