package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// recount rebuilds the per-session byte counts from the heads stored in the
// stream, so that session caps hold across restarts. It reads headers only.
func (q *Queue) recount(ctx context.Context) error {
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(headPrefix+">"))
	if err != nil {
		return err
	}
	var heads uint64
	for _, n := range info.State.Subjects {
		heads += n
	}
	if heads == 0 {
		return nil
	}
	cons, err := q.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{headPrefix + ">"}, HeadersOnly: true})
	if err != nil {
		return err
	}
	for seen := uint64(0); seen < heads; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			size, _ := strconv.ParseInt(m.Headers().Get(hdrSize), 10, 64)
			t := strings.Split(m.Subject(), ".") // ptp q node session topic
			if len(t) == 5 {
				q.usage.add(t[2]+"."+t[3]+"."+t[4], size)
			}
			meta, err := m.Metadata()
			if err == nil && meta.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return err
		}
		if got == 0 {
			return fmt.Errorf("recount stopped after %d of %d messages", seen, heads)
		}
		seen += uint64(got)
	}
	return nil
}
