package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/network"
)

// clearScreen moves the cursor home and clears the terminal: each frame of
// `mesh status --watch` redraws the whole view.
const clearScreen = "\x1b[H\x1b[2J"

// watchOptions are the flags of `mesh status --watch`.
type watchOptions struct {
	watch    bool
	interval time.Duration
	count    int
}

// watchFlags adds --watch, --interval and --count to cmd.
func watchFlags(cmd *cobra.Command) *watchOptions {
	w := &watchOptions{}
	f := cmd.Flags()
	f.BoolVarP(&w.watch, "watch", "w", false, "keep showing the node's figures and rates, refreshed every --interval, until Ctrl-C")
	f.DurationVar(&w.interval, "interval", 2*time.Second, "refresh period of --watch")
	f.IntVar(&w.count, "count", 0, "with --watch: stop after this many refreshes (0: until Ctrl-C)")
	return w
}

// reading is one sample of the node in --watch: its status, or why it
// could not be read.
type reading struct {
	At     time.Time `json:"time"`
	Status *status   `json:"status,omitempty"`
	Error  string    `json:"error,omitempty"` // the node is unreachable or failed the call
	Rates  *rates    `json:"rates,omitempty"` // since the previous reading of a serving node
}

// rates are per-second figures from the difference of two readings.
type rates struct {
	Pushed         float64            `json:"pushed_per_s"`
	Popped         float64            `json:"popped_per_s"`
	PushedBytes    float64            `json:"pushed_bytes_per_s"`
	PoppedBytes    float64            `json:"popped_bytes_per_s"`
	Forwarded      float64            `json:"forwarded_per_s"`
	ForwardedBytes float64            `json:"forwarded_bytes_per_s"`
	Partners       map[string]float64 `json:"partner_forwarded_per_s,omitempty"` // by node id
	PartnerBytes   map[string]float64 `json:"partner_forwarded_bytes_per_s,omitempty"`
}

// run shows the node every interval until ctx ends (exit 0) or count
// readings are shown. A node that cannot be reached is shown as such and
// read again at the next tick.
func (w *watchOptions) run(ctx context.Context, out io.Writer, c *control) error {
	if w.interval <= 0 {
		return fmt.Errorf("--interval %s: want a positive duration", w.interval)
	}
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	tty := isTerminal(out)
	var prev *reading
	// Ctrl-C (ctx ending) stops the loop, while waiting or while reading:
	// the user asked to stop, not an error.
	for i := 0; (w.count <= 0 || i < w.count) && ctx.Err() == nil; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				continue
			case <-tick.C:
			}
		}
		s := w.read(ctx, c, prev)
		if ctx.Err() != nil {
			continue // a reading cut short by Ctrl-C is not shown
		}
		if err := w.show(out, c, s, tty); err != nil {
			return err
		}
		if s.Status != nil && s.Status.Ready {
			prev = &s
		}
	}
	return nil
}

// read takes one reading, its rates against prev (the last serving one).
func (w *watchOptions) read(ctx context.Context, c *control, prev *reading) reading {
	ctx, cancel := context.WithTimeout(ctx, max(w.interval, 5*time.Second))
	defer cancel()
	s := reading{At: time.Now()}
	st, err := fetchStatus(ctx, c)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Status = &st
	if st.Ready && prev != nil {
		s.Rates = rateOf(prev, &s)
	}
	return s
}

// show writes one reading: a JSON line with -o json, else a frame (redrawn
// in place on a terminal, appended otherwise).
func (w *watchOptions) show(out io.Writer, c *control, s reading, tty bool) error {
	if c.output == "json" {
		return json.NewEncoder(out).Encode(s)
	}
	var b bytes.Buffer
	if tty {
		b.WriteString(clearScreen)
	}
	frame(&b, c.addr, w.interval, s)
	if !tty {
		b.WriteByte('\n')
	}
	_, err := out.Write(b.Bytes())
	return err
}

// rateOf is the per-second change from a to b; none when another process
// took b (an upgrade): its counters start again from zero.
func rateOf(a, b *reading) *rates {
	dt := b.At.Sub(a.At).Seconds()
	if dt <= 0 || a.Status.Stats.PID != b.Status.Stats.PID {
		return nil
	}
	per := func(x, y int64) float64 { return float64(y-x) / dt }
	sa, sb := a.Status.Stats, b.Status.Stats
	r := &rates{Pushed: per(sa.Pushed, sb.Pushed), Popped: per(sa.Popped, sb.Popped),
		PushedBytes: per(sa.PushedBytes, sb.PushedBytes), PoppedBytes: per(sa.PoppedBytes, sb.PoppedBytes),
		Forwarded: per(sa.Network.Forwarded, sb.Network.Forwarded), ForwardedBytes: per(sa.Network.ForwardedBytes, sb.Network.ForwardedBytes),
		Partners: map[string]float64{}, PartnerBytes: map[string]float64{}}
	before := map[string]network.PartnerStats{}
	for _, p := range sa.Network.Partners {
		before[p.NodeID] = p
	}
	for _, p := range sb.Network.Partners {
		q := before[p.NodeID] // a new partner counts from zero
		r.Partners[p.NodeID] = per(q.Forwarded, p.Forwarded)
		r.PartnerBytes[p.NodeID] = per(q.ForwardedBytes, p.ForwardedBytes)
	}
	return r
}

// isTerminal says whether w is a terminal (a character device), where
// frames are redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// msgRate and mbRate format rates for the view; "-" before there are two
// readings.
func msgRate(r *rates, v func(*rates) float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(v(r), 'f', 1, 64) + " msg/s"
}

func mbRate(r *rates, v func(*rates) float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(v(r)/1e6, 'f', 2, 64) + " MB/s"
}

// joinNonEmpty joins the non-empty parts with sep.
func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
