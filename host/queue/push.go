package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ppcmesh/mesh/host/internal/jserr"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Headers of a stored head message.
const (
	hdrMsgID  = "Nats-Msg-Id" // de-duplication within the stream's window
	hdrID     = "Mesh-Id"
	hdrSize   = "Mesh-Size"
	hdrChunks = "Mesh-Chunks"
	hdrMeta   = "Mesh-Meta"
)

// maxMetadata bounds the encoded metadata of one message.
const maxMetadata = 16 << 10

// Push stores m at the tail of queue k and returns its id once it is durably
// stored. A push with the id of a message stored within the last two minutes
// is acknowledged without storing it twice.
func (q *Queue) Push(ctx context.Context, k Key, m Message) (string, error) {
	if err := Check(k, m.ID); err != nil {
		return "", err
	}
	if q.released.has(k.nodeSession()) {
		return "", ptp.Errorf(ptp.SessionReleased, "session %q was released", k.Session)
	}
	if m.ID == "" {
		m.ID = nuid.Next()
	}
	n := int64(len(m.Payload))
	if n > q.cfg.SessionMaxBytes {
		return "", ptp.Errorf(ptp.TooLarge, "payload of %d bytes exceeds the session cap of %d bytes", n, q.cfg.SessionMaxBytes)
	}
	var meta []byte
	if len(m.Metadata) > 0 {
		meta, _ = json.Marshal(m.Metadata)
		if len(meta) > maxMetadata {
			return "", ptp.Errorf(ptp.BadRequest, "metadata of %d bytes exceeds %d bytes", len(meta), maxMetadata)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, q.cfg.FullWait)
	defer cancel()
	if !q.usage.reserve(wctx, k, n) {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", ptp.Errorf(ptp.BufferFull, "session %q holds %d bytes and its cap is %d bytes; pop before pushing more",
			k.Session, q.usage.held(k.nodeSession()), q.cfg.SessionMaxBytes)
	}
	if err := q.store(wctx, ctx, k, m, meta); err != nil {
		q.usage.free(k.queueName(), n)
		return "", err
	}
	q.npushed.Add(1)
	q.pushedBytes.Add(n)
	q.pushed(n)
	q.tell(notifyPrefix, k.queueName(), n)
	return m.ID, nil
}

// store writes the chunks of m, then its head, retrying while the stream is
// full until wctx ends.
func (q *Queue) store(wctx, ctx context.Context, k Key, m Message, meta []byte) error {
	pieces := split(m.Payload, q.chunk)
	for {
		_, err := retry(wctx, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, q.publish(ctx, k, m.ID, pieces, meta, len(m.Payload))
		})
		if err == nil {
			return nil
		}
		if !isFull(err) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("store message: %w", err)
		}
		q.usage.waitFreed(wctx, pollFull)
		if wctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return ptp.Errorf(ptp.BufferFull, "the node's queues hold their cap of %d bytes; pop before pushing more", q.cfg.MaxBytes)
		}
	}
}

func (q *Queue) publish(ctx context.Context, k Key, id string, pieces [][]byte, meta []byte, size int) error {
	dedupe := k.queueName() + "/" + id
	futs := make([]jetstream.PubAckFuture, 0, len(pieces)-1)
	for i, p := range pieces[1:] {
		msg := &nats.Msg{Subject: k.chunkSubject(id, i+1), Data: p,
			Header: nats.Header{hdrMsgID: {dedupe + "/" + strconv.Itoa(i+1)}}}
		f, err := q.js.PublishMsgAsync(msg)
		if err != nil {
			return err
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	head := &nats.Msg{Subject: k.headSubject(), Data: pieces[0], Header: nats.Header{
		hdrMsgID:  {dedupe},
		hdrID:     {id},
		hdrSize:   {strconv.Itoa(size)},
		hdrChunks: {strconv.Itoa(len(pieces) - 1)},
	}}
	if meta != nil {
		head.Header[hdrMeta] = []string{string(meta)}
	}
	return q.publishSync(ctx, head)
}

// split cuts p into pieces of at most n bytes; there is always one piece.
func split(p []byte, n int) [][]byte {
	out := make([][]byte, 0, len(p)/n+1)
	for len(p) > n {
		out = append(out, p[:n])
		p = p[n:]
	}
	return append(out, p)
}

// isFull reports whether err says the stream holds its cap.
func isFull(err error) bool { return jserr.IsFull(err) }
