package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/ptp"
)

// loadResult is what `mesh load` reports.
type loadResult struct {
	Transport   string  `json:"transport"`
	Size        int     `json:"size_bytes"`
	Concurrency int     `json:"concurrency"`
	Sent        int64   `json:"sent"`
	Received    int64   `json:"received"`
	Errors      int64   `json:"errors"`
	OutOfOrder  int64   `json:"out_of_order"`
	Seconds     float64 `json:"seconds"`
	MsgsPerSec  float64 `json:"msgs_per_s"`
	MBPerSec    float64 `json:"mb_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
}

func loadCmd() *cobra.Command {
	var (
		addr, to, target, transport, size, output string
		conc, count                               int
		limit                                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Push and pop messages through a running node and report throughput and latency",
		Long: `load runs N producers and N consumers against a node: each producer pushes to its own
topic of a fresh session while a consumer pops it. It stops after --count messages or --duration,
checks that every message arrived once and in order, releases the session, and prints msgs/s,
MB/s and push→pop latency percentiles.

With --target NODE_ID --to ADDR it measures two institutions: producers push at --addr to the
woven partner NODE_ID, and consumers pop at that partner's node, --to.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return err
			}
			if conc < 1 || count < conc {
				return fmt.Errorf("need --concurrency ≥ 1 and --count ≥ --concurrency")
			}
			if (target == "") != (to == "") {
				return fmt.Errorf("--target and --to go together")
			}
			session := "load-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			push, release, err := loadClient(addr, transport, session, target, conc)
			if err != nil {
				return err
			}
			defer release()
			pop := push
			if to != "" {
				var releaseTo func()
				if pop, releaseTo, err = loadClient(to, transport, session, "", conc); err != nil {
					return err
				}
				defer releaseTo()
			}
			r := runLoad(push, pop, transport, n, conc, count, limit, cmd.ErrOrStderr())
			if output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			printLoad(cmd.OutOrStdout(), r)
			if r.Errors > 0 || r.Received != r.Sent || r.OutOfOrder > 0 {
				return fmt.Errorf("%d errors, %d sent, %d received, %d out of order", r.Errors, r.Sent, r.Received, r.OutOfOrder)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", nodeAddr(), addrUsage)
	f.StringVar(&target, "target", "", "push to this woven partner node id (with --to)")
	f.StringVar(&to, "to", "", "pop at this node address: the partner's (with --target)")
	f.StringVar(&transport, "transport", "grpc", "grpc or http (raw bodies)")
	f.StringVar(&size, "size", "1KiB", "payload size: bytes, or with KiB/MiB")
	f.IntVar(&conc, "concurrency", 4, "producers (and as many consumers)")
	f.IntVar(&count, "count", 10000, "messages in all")
	f.DurationVar(&limit, "duration", time.Minute, "stop pushing after this long")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// loadClient connects to addr and returns a client on session pushing to
// target (empty: addr's own node), and a function that releases the session
// and closes the connection.
func loadClient(addr, transport, session, target string, conc int) (client.Client, func(), error) {
	h := &client.HTTP{URL: "http://" + addr, Session: session, Raw: true, Target: target,
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * conc}}}
	switch transport {
	case "http":
		return h, func() { _, _ = h.Release("") }, nil
	case "grpc":
		cc, err := client.Dial(addr)
		if err != nil {
			return nil, nil, err
		}
		g := client.NewGRPC(cc, session)
		g.Target = target
		return g, func() { _, _ = h.Release(""); cc.Close() }, nil
	}
	return nil, nil, fmt.Errorf("transport %q: want grpc or http", transport)
}

func runLoad(push, pop client.Client, transport string, size, conc, count int, limit time.Duration, progress io.Writer) loadResult {
	r := loadResult{Transport: transport, Size: size, Concurrency: conc}
	per := count / conc
	deadline := time.Now().Add(limit)
	lat := make([][]time.Duration, conc)
	var sent, received, errs, disorder atomic.Int64
	stop := make(chan struct{})
	go reportProgress(progress, &sent, &received, stop)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conc {
		topic := fmt.Sprint("load-", i)
		pushed := make(chan struct{}, per)
		wg.Go(func() {
			defer close(pushed)
			p := make([]byte, max(size, 16))[:size]
			for seq := 0; seq < per && time.Now().Before(deadline); seq++ {
				stamp(p, seq)
				if code, err := push.Push(topic, p); err != nil || code != ptp.OK {
					errs.Add(1)
					return
				}
				sent.Add(1)
				pushed <- struct{}{}
			}
		})
		wg.Go(func() {
			next := 0
			for range pushed {
				got, code, err := pop.Pop(topic, 30000)
				if err != nil || code != ptp.OK || len(got) != size {
					errs.Add(1)
					return
				}
				seq, at := unstamp(got)
				if seq != next && size >= 16 {
					disorder.Add(1)
				}
				next = seq + 1
				lat[i] = append(lat[i], time.Since(at))
				received.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	r.Seconds = time.Since(start).Seconds()
	r.Sent, r.Received, r.Errors, r.OutOfOrder = sent.Load(), received.Load(), errs.Load(), disorder.Load()
	r.MsgsPerSec = float64(r.Received) / r.Seconds
	r.MBPerSec = r.MsgsPerSec * float64(size) / 1e6
	all := slices.Concat(lat...)
	slices.Sort(all)
	if size >= 16 && len(all) > 0 {
		r.P50ms = float64(all[len(all)/2].Microseconds()) / 1000
		r.P99ms = float64(all[len(all)*99/100].Microseconds()) / 1000
	}
	return r
}

// stamp writes a sequence number and the time into the first 16 bytes.
func stamp(p []byte, seq int) {
	if len(p) >= 16 {
		binary.BigEndian.PutUint64(p, uint64(seq))
		binary.BigEndian.PutUint64(p[8:], uint64(time.Now().UnixNano()))
	}
}

func unstamp(p []byte) (int, time.Time) {
	if len(p) < 16 {
		return 0, time.Now()
	}
	return int(binary.BigEndian.Uint64(p)), time.Unix(0, int64(binary.BigEndian.Uint64(p[8:])))
}

func reportProgress(w io.Writer, sent, received *atomic.Int64, stop chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fmt.Fprintf(w, "… %d pushed, %d popped\n", sent.Load(), received.Load())
		}
	}
}

func printLoad(w io.Writer, r loadResult) {
	tw := newTable(w)
	fmt.Fprintln(tw, "TRANSPORT\tSIZE\tCONC\tMESSAGES\tSECONDS\tMSGS/S\tMB/S\tP50 MS\tP99 MS\tERRORS")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%.0f\t%.1f\t%.2f\t%.2f\t%d\n", r.Transport, r.Size, r.Concurrency,
		r.Received, r.Seconds, r.MsgsPerSec, r.MBPerSec, r.P50ms, r.P99ms, r.Errors)
	_ = tw.Flush()
}

// parseSize reads "1024", "1KiB", "4MiB", "1k", "2M".
func parseSize(s string) (int, error) {
	units := []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"K", 1 << 10}, {"M", 1 << 20}, {"k", 1 << 10}, {"B", 1}}
	mult := 1
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 1<<30/mult {
		return 0, fmt.Errorf("size %q: want bytes, or a number with KiB or MiB", s)
	}
	return n * mult, nil
}
