package main

import (
	"cmp"
	"context"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/ptp"
)

// loadResult is what `mesh load` reports.
type loadResult struct {
	Transport   string      `json:"transport"`
	Size        int         `json:"size_bytes"`
	Concurrency int         `json:"concurrency"`
	Sent        int64       `json:"sent"`
	Received    int64       `json:"received"`
	Errors      int64       `json:"errors"`
	OutOfOrder  int64       `json:"out_of_order"`
	Seconds     float64     `json:"seconds"`
	MsgsPerSec  float64     `json:"msgs_per_s"`
	MBPerSec    float64     `json:"mb_per_s"`
	P50ms       float64     `json:"p50_ms"`
	P99ms       float64     `json:"p99_ms"`
	ErrorKinds  []loadError `json:"error_kinds,omitempty"` // the first error of each kind, with its count
}

func loadCmd() *cobra.Command {
	var (
		target, transport, size, output string
		conc, count                     int
		limit                           time.Duration
	)
	addr, to := nodeAddr(), ""
	var token *secret
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
			ptpToken, err := token.value()
			if err != nil {
				return err
			}
			lc := loadConfig{transport: transport, session: session, conc: conc, ptpToken: ptpToken, errs: newErrorKinds()}
			push, release, err := lc.client(cmd.Context(), addr, target)
			if err != nil {
				return err
			}
			defer release()
			pop := push
			if to != "" {
				var releaseTo func()
				if pop, releaseTo, err = lc.client(cmd.Context(), to, ""); err != nil {
					return err
				}
				defer releaseTo()
			}
			r := runLoad(cmd.Context(), push, pop, lc, n, count, limit, cmd.ErrOrStderr())
			return reportLoad(cmd, r, output)
		},
	}
	f := cmd.Flags()
	f.Var(addrFlag{&addr}, "addr", addrUsage+"; plain HTTP and gRPC only")
	f.StringVar(&target, "target", "", "push to this woven partner node id (with --to)")
	f.Var(addrFlag{&to}, "to", "pop at this node address: the partner's (with --target)")
	token = ptpTokenFlags(f)
	f.StringVar(&transport, "transport", "grpc", "grpc or http (raw bodies)")
	f.StringVar(&size, "size", "1KiB", "payload size: bytes, or with KiB/MiB")
	f.IntVar(&conc, "concurrency", 4, "producers (and as many consumers)")
	f.IntVar(&count, "count", 10000, "messages in all")
	f.DurationVar(&limit, "duration", time.Minute, "stop pushing after this long")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// reportLoad prints r as a table or JSON, the first error of each kind on
// standard error, and fails when anything was lost or refused.
func reportLoad(cmd *cobra.Command, r loadResult, output string) error {
	for _, k := range r.ErrorKinds {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d× %s: %s\n", k.Count, k.Kind, k.First)
	}
	var err error
	if output == "json" {
		err = json.NewEncoder(cmd.OutOrStdout()).Encode(r)
	} else {
		printLoad(cmd.OutOrStdout(), r)
	}
	if err == nil && (r.Errors > 0 || r.Received != r.Sent || r.OutOfOrder > 0) {
		err = fmt.Errorf("%d errors, %d sent, %d received, %d out of order", r.Errors, r.Sent, r.Received, r.OutOfOrder)
	}
	return err
}

// loadConfig is what every client of one `mesh load` run shares.
type loadConfig struct {
	transport, session, ptpToken string
	conc                         int
	errs                         *errorKinds
}

// client connects to addr and returns a client on the session pushing to
// target (empty: addr's own node), and a function that releases the session
// (see release) and closes the connection.
func (lc loadConfig) client(ctx context.Context, addr, target string) (client.Client, func(), error) {
	u, err := parseAddr(addr)
	if err != nil {
		return nil, nil, err
	}
	if u.scheme != "http" {
		return nil, nil, fmt.Errorf("node address %q: mesh load speaks plain HTTP and gRPC: give host:port", addr)
	}
	h := &client.HTTP{URL: "http://" + u.hostPort, Session: lc.session, Raw: true, Target: target,
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * lc.conc}}}
	if lc.ptpToken != "" {
		h.Headers = map[string]string{ptp.HeaderToken: lc.ptpToken}
	}
	switch lc.transport {
	case "http":
		return recorded{h, lc.errs}, func() { release(ctx, h) }, nil
	case "grpc":
		cc, err := grpc.NewClient(u.hostPort, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)),
			grpc.WithUnaryInterceptor(lc.intercept))
		if err != nil {
			return nil, nil, err
		}
		g := client.NewGRPC(cc, lc.session)
		g.Target = target
		return g, func() { release(ctx, h); cc.Close() }, nil
	}
	return nil, nil, fmt.Errorf("transport %q: want grpc or http", lc.transport)
}

// releaseWait bounds the release of a load session.
const releaseWait = 10 * time.Second

// release drops the load session at h, within releaseWait, also when ctx is
// already cancelled (an interrupted run still cleans up after itself).
func release(ctx context.Context, h *client.HTTP) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseWait)
	defer cancel()
	_, _ = h.Release(ctx, "")
}

// intercept sends the x-ptp-token on every gRPC call and keeps the node's
// message of a failure reply.
func (lc loadConfig) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if lc.ptpToken != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, ptp.HeaderToken, lc.ptpToken)
	}
	err := invoker(ctx, method, req, reply, cc, opts...)
	if out, ok := reply.(*ptp.TransportOutbound); ok && err == nil && ptp.Code(out.Code) != ptp.OK {
		lc.errs.message(ptp.Code(out.Code), out.Message)
	}
	return err
}

// recorded is an HTTP client that keeps the node's message of every
// failure answer, so that a load run reports what the node said.
type recorded struct {
	h    *client.HTTP
	errs *errorKinds
}

// Push pushes payload to topic.
func (r recorded) Push(ctx context.Context, topic string, payload []byte) (ptp.Code, error) {
	a, err := r.call(ctx, ptp.Push, topic, payload, 0)
	return a.Code, err
}

// Pop pops from topic, waiting up to timeout ms.
func (r recorded) Pop(ctx context.Context, topic string, timeout int) ([]byte, ptp.Code, error) {
	a, err := r.call(ctx, ptp.Pop, topic, nil, timeout)
	return a.Payload, a.Code, err
}

// call makes one chan call and keeps the message of a failure answer.
func (r recorded) call(ctx context.Context, m ptp.Method, topic string, payload []byte, timeout int) (client.Answer, error) {
	a, err := r.h.Call(ctx, m, topic, payload, timeout)
	if err == nil && a.Code != ptp.OK {
		r.errs.message(a.Code, a.Message)
	}
	return a, err
}

// runLoad runs lc.conc producer and consumer pairs, one topic each, pushing
// count messages of size bytes in all for at most limit; ctx bounds every
// call.
func runLoad(ctx context.Context, push, pop client.Client, lc loadConfig, size, count int, limit time.Duration, progress io.Writer) loadResult {
	conc := lc.conc
	r := loadResult{Transport: lc.transport, Size: size, Concurrency: conc}
	deadline := time.Now().Add(limit)
	lat := make([][]time.Duration, conc)
	var sent, received, disorder atomic.Int64
	stop := make(chan struct{})
	var reporter, wg sync.WaitGroup
	reporter.Go(func() { reportProgress(progress, &sent, &received, stop) })
	start := time.Now()
	for i := range conc {
		topic := fmt.Sprint("load-", i)
		per := share(count, conc, i)
		pushed := make(chan struct{}, per)
		wg.Go(func() {
			defer close(pushed)
			p := make([]byte, max(size, 16))[:size]
			for seq := 0; seq < per && time.Now().Before(deadline); seq++ {
				stamp(p, seq)
				if code, err := push.Push(ctx, topic, p); err != nil || code != ptp.OK {
					lc.errs.add("push", code, err)
					return
				}
				sent.Add(1)
				pushed <- struct{}{}
			}
		})
		wg.Go(func() {
			next := 0
			for range pushed {
				got, code, err := pop.Pop(ctx, topic, 30000)
				if err == nil && code == ptp.OK && len(got) != size {
					err = fmt.Errorf("popped %d bytes, want %d", len(got), size)
				}
				if err != nil || code != ptp.OK {
					lc.errs.add("pop", code, err)
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
	reporter.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Sent, r.Received, r.OutOfOrder = sent.Load(), received.Load(), disorder.Load()
	r.ErrorKinds = lc.errs.list()
	for _, k := range r.ErrorKinds {
		r.Errors += k.Count
	}
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

// share is producer i's part of count messages among conc producers: count
// in all, the remainder spread over the first ones.
func share(count, conc, i int) int {
	n := count / conc
	if i < count%conc {
		n++
	}
	return n
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

// loadError is one kind of error of a load run: the operation and the code
// (or the transport error), how often it happened and the first message.
type loadError struct {
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
	First string `json:"first"`
}

// errorKinds counts a load run's errors by kind and keeps the first of
// each. The transports file the node's message of each failure code
// (message) before the run's goroutines count it (add).
type errorKinds struct {
	mu       sync.Mutex
	kinds    []*loadError
	messages map[ptp.Code]string // the first message of each failure code
}

func newErrorKinds() *errorKinds { return &errorKinds{messages: map[ptp.Code]string{}} }

// message keeps the node's first message for code.
func (e *errorKinds) message(code ptp.Code, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.messages[code]; !ok {
		e.messages[code] = msg
	}
}

// add counts one failed op: a transport error, or a reply with code.
func (e *errorKinds) add(op string, code ptp.Code, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	kind, first := op+" "+string(code), ""
	if err != nil {
		kind, first = op+" error", err.Error()
	} else {
		first = cmp.Or(e.messages[code], code.Message())
	}
	for _, k := range e.kinds {
		if k.Kind == kind {
			k.Count++
			return
		}
	}
	e.kinds = append(e.kinds, &loadError{Kind: kind, Count: 1, First: first})
}

// list is the kinds of error, in the order they first happened.
func (e *errorKinds) list() []loadError {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]loadError, len(e.kinds))
	for i, k := range e.kinds {
		out[i] = *k
	}
	return out
}
