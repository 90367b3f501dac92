package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// scrapeClient scrapes for the tests, bounded in time.
var scrapeClient = &http.Client{Timeout: 30 * time.Second}

// scrape fetches url's /metrics and parses the text exposition.
func scrape(hc *http.Client, url string) (map[string]*dto.MetricFamily, []byte, error) {
	resp, err := hc.Get(url + "/metrics")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, body, fmt.Errorf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	return mfs, body, err
}

// mustScrape scrapes n's metrics or fails the test.
func mustScrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, _, err := scrape(scrapeClient, url)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// metricSample is the value of the series of family name with the labels kv
// (name, value, …) among them; a histogram's sample count; -1 when absent.
func metricSample(mfs map[string]*dto.MetricFamily, name string, kv ...string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return -1
	}
	for _, m := range mf.GetMetric() {
		match := 0
		for _, lp := range m.GetLabel() {
			for i := 0; i+1 < len(kv); i += 2 {
				if lp.GetName() == kv[i] && lp.GetValue() == kv[i+1] {
					match++
				}
			}
		}
		if match != len(kv)/2 {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// loadPayload is the i-th message of a load: 1 to 64 bytes.
func loadPayload(i int) []byte { return []byte(strings.Repeat("x", 1+i%64)) }

// TestMetricsCountTheLoadExactly: N pushes and N pops on each of gRPC, HTTP
// JSON and HTTP raw, concurrently with scrapes of /metrics; then the
// counters equal the messages pushed and popped exactly, by operation,
// transport and code, the byte counters their payloads, the latency
// histograms one sample per call, and the held gauges what is stored.
func TestMetricsCountTheLoadExactly(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	n.Identify(t, "node-m", "inst-m")
	const per = 60
	clients := map[string]meshtest.Client{
		"grpc":     meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "load"),
		"http":     &meshtest.HTTPClient{URL: n.URL, Session: "load"},
		"http-raw": &meshtest.HTTPClient{URL: n.URL, Session: "load", Raw: true},
	}
	var bytesPer int
	for i := range per {
		bytesPer += len(loadPayload(i))
	}
	stop := make(chan struct{})
	var scrapers sync.WaitGroup
	scrapeErr := make(chan error, 1)
	scrapers.Go(func() { // scrapes all along, at most 2000 times
		for range 2000 {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := scrape(scrapeClient, n.URL); err != nil {
				scrapeErr <- err
				return
			}
		}
	})
	run := func(what string, call func(name string, c meshtest.Client, i int) error) {
		errs := make(chan error, len(clients))
		var wg sync.WaitGroup
		for name, c := range clients {
			wg.Go(func() {
				for i := range per {
					if err := call(name, c, i); err != nil {
						errs <- fmt.Errorf("%s %s %d: %w", what, name, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	run("push", func(name string, c meshtest.Client, i int) error {
		if code, err := c.Push(ctx, "t-"+name, loadPayload(i)); code != ptp.OK {
			return fmt.Errorf("%s %v", code, err)
		}
		return nil
	})
	mid := mustScrape(t, n.URL)
	if got := metricSample(mid, "mesh_queue_held_messages"); got != 3*per {
		t.Errorf("held messages after the pushes: %v, want %d", got, 3*per)
	}
	if got := metricSample(mid, "mesh_queue_sessions"); got != 1 {
		t.Errorf("sessions holding messages after the pushes: %v, want 1", got)
	}
	if got := metricSample(mid, "mesh_queue_held_bytes"); got != float64(3*bytesPer) {
		t.Errorf("held bytes after the pushes: %v, want %d", got, 3*bytesPer)
	}
	run("pop", func(name string, c meshtest.Client, i int) error {
		got, code, err := c.Pop(ctx, "t-"+name, 10000)
		if code != ptp.OK || string(got) != string(loadPayload(i)) {
			return fmt.Errorf("%s %v: %d bytes, want %d", code, err, len(got), len(loadPayload(i)))
		}
		return nil
	})
	// A body the node cannot decode is refused before the service, and
	// counted all the same.
	if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", meshtest.Session("load"), []byte("{not json")); r.Code != ptp.BadRequest {
		t.Fatalf("undecodable push: %s", r.Body)
	}
	close(stop)
	scrapers.Wait()
	select {
	case err := <-scrapeErr:
		t.Fatalf("a scrape during the load: %v", err)
	default:
	}
	mfs := mustScrape(t, n.URL)
	want := func(v float64, name string, kv ...string) {
		t.Helper()
		if got := metricSample(mfs, name, kv...); got != v {
			t.Errorf("%s%v = %v, want %v", name, kv, got, v)
		}
	}
	for name := range clients {
		for _, op := range []string{"push", "pop"} {
			want(per, "mesh_requests_total", "operation", op, "transport", name, "code", string(ptp.OK))
		}
	}
	want(1, "mesh_requests_total", "operation", "push", "transport", "http", "code", string(ptp.BadRequest))
	want(3*per, "mesh_queue_pushed_messages_total")
	want(3*per, "mesh_queue_popped_messages_total")
	want(float64(3*bytesPer), "mesh_queue_pushed_bytes_total")
	want(float64(3*bytesPer), "mesh_payload_received_bytes_total", "operation", "push")
	want(float64(3*bytesPer), "mesh_payload_sent_bytes_total", "operation", "pop")
	want(3*per, "mesh_message_stored_seconds")
	want(3*per, "mesh_pop_wait_seconds")
	want(3*per+1, "mesh_request_duration_seconds", "operation", "push") // the undecodable one too
	want(3*per, "mesh_request_duration_seconds", "operation", "pop")
	want(0, "mesh_queue_held_messages")
	want(0, "mesh_queue_held_bytes")
	want(0, "mesh_queue_sessions")
	if got := metricSample(mfs, "mesh_requests_total", "operation", "control", "transport", "http", "code", string(ptp.OK)); got < 2 {
		t.Errorf("control requests (the node refresh, the scrapes): %v, want at least 2", got)
	}
	want(1, "mesh_nats_connected")
	want(1, "mesh_replica_queue_leader")
	if got := metricSample(mfs, "go_goroutines"); got <= 0 {
		t.Errorf("go_goroutines = %v: the Go collector is missing", got)
	}
}

// TestMetricsExpositionLints: the whole exposition of a node with traffic,
// a partner and a plugin passes client_golang's linter with no problem.
func TestMetricsExpositionLints(t *testing.T) {
	a, b, _ := surfaceNodes(t)
	c := &meshtest.HTTPClient{URL: a.URL, Session: "lint", Target: b.ID}
	if code, err := c.Push(t.Context(), "t", []byte("to b")); code != ptp.OK {
		t.Fatalf("push to b: %s %v", code, err)
	}
	_, body, err := scrape(scrapeClient, a.URL)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{"mesh_requests_total", "mesh_partner_up", "mesh_partners", "mesh_forwarded_messages_total",
		"mesh_jetstream_storage_bytes", "mesh_queue_stream_messages", "mesh_replica_outbox_lease", "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("exposition lacks %s", name)
		}
	}
}

// TestPartnerUpMetricFollowsThePartner: a's mesh_partner_up for b is 1
// once a push reached b, flips to 0 when b is stopped and a push cannot
// reach it, and back to 1 when b is up again; /stats shows the same per
// partner.
func TestPartnerUpMetricFollowsThePartner(t *testing.T) {
	a := meshtest.Start(t, host.Config{ForwardRetry: 300 * time.Millisecond})
	bHome := t.TempDir()
	b := meshtest.Start(t, host.Config{Home: bHome})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)
	c := &meshtest.HTTPClient{URL: a.URL, Session: "up", Target: b.ID}
	up := func() float64 { return metricSample(mustScrape(t, a.URL), "mesh_partner_up", "node_id", "node-b") }
	pushUntil := func(what string, want float64) {
		t.Helper()
		meshtest.WaitFor(t, time.Minute, what, func() bool {
			_, _ = c.Push(t.Context(), "t", []byte("probe"))
			return up() == want
		})
	}
	pushUntil("node-b up", 1)
	var st struct {
		Network struct {
			Partners []partnerRow `json:"partners"`
		} `json:"network"`
	}
	meshtest.Get(t, a.AdminURL+"/stats").Decode(t, &st)
	p := st.Network.Partners
	if len(p) != 1 || p[0].NodeID != "node-b" || !p[0].Up || p[0].Forwarded < 1 {
		t.Fatalf("/stats partners: %+v", p)
	}
	if got := metricSample(mustScrape(t, a.URL), "mesh_partner_forwarded_messages_total", "node_id", "node-b"); got < float64(p[0].Forwarded) {
		t.Fatalf("forwarded to node-b: metric %v, below /stats's earlier %d", got, p[0].Forwarded)
	}
	addr := b.Addr
	b.Stop(t)
	pushUntil("node-b down", 0)
	meshtest.Start(t, host.Config{Home: bHome, Listen: addr})
	pushUntil("node-b up again", 1)
}

// partnerRow is the part of a /stats partner row the tests read.
type partnerRow struct {
	NodeID    string `json:"node_id"`
	Up        bool   `json:"up"`
	Forwarded int64  `json:"forwarded"`
}

// TestMetricsOnlyForOperators: /metrics answers loopback operators, and
// refuses a woven partner presenting its certificate; with an admin port
// it is served there and not on the data port.
func TestMetricsOnlyForOperators(t *testing.T) {
	_, b, aRoot := surfaceNodes(t)
	if _, _, err := scrape(scrapeClient, b.URL); err != nil {
		t.Fatalf("loopback operator: %v", err)
	}
	_, body, err := scrape(partnerHTTP(t, b, aRoot), "https://"+b.Addr)
	if err == nil || !strings.Contains(string(body), string(ptp.Unauthorized)) || strings.Contains(string(body), "mesh_") {
		t.Fatalf("partner with its certificate: want refused with %s, got %v %.200s", ptp.Unauthorized, err, body)
	}
	n := meshtest.Start(t, host.Config{AdminListen: "127.0.0.1:0"})
	if _, _, err := scrape(scrapeClient, n.AdminURL); err != nil {
		t.Fatalf("admin port: %v", err)
	}
	if _, body, err := scrape(scrapeClient, n.URL); err == nil || strings.Contains(string(body), "mesh_") {
		t.Fatalf("data port of a node with an admin port served /metrics: %v %.200s", err, body)
	}
}

// accessLines are the access-log lines of a JSON log.
func accessLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(log), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "access" {
			out = append(out, m)
		}
	}
	return out
}

// TestAccessLog: with --access-log, each call is one line with its
// operation, transport, session, topic, bytes, code, duration and caller
// (a container, or a partner by its node id); without it (the default),
// no access line at all.
func TestAccessLog(t *testing.T) {
	var logA, logB meshtest.Log
	a := meshtest.Start(t, host.Config{Logger: slog.New(slog.NewJSONHandler(&logA, nil))})
	b := meshtest.Start(t, host.Config{AccessLog: true, Logger: slog.New(slog.NewJSONHandler(&logB, nil))})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)
	if code, err := (&meshtest.HTTPClient{URL: b.URL, Session: "acc"}).Push(t.Context(), "own", []byte("12345")); code != ptp.OK {
		t.Fatalf("push on b: %s %v", code, err)
	}
	if got, code, err := meshtest.NewGRPCClient(meshtest.Dial(t, b.Addr), "acc").Pop(t.Context(), "own", 5000); code != ptp.OK || string(got) != "12345" {
		t.Fatalf("pop on b: %s %v %q", code, err, got)
	}
	if code, err := (&meshtest.HTTPClient{URL: a.URL, Session: "acc", Target: b.ID}).Push(t.Context(), "from-a", []byte("abc")); code != ptp.OK {
		t.Fatalf("push a→b: %s %v", code, err)
	}
	var lines, control []map[string]any
	meshtest.WaitFor(t, 20*time.Second, "three access lines of session acc on b", func() bool {
		lines, control = nil, nil
		for _, l := range accessLines(t, logB.String()) {
			switch {
			case l["session"] == "acc":
				lines = append(lines, l)
			case l["op"] == "control":
				control = append(control, l)
			}
		}
		return len(lines) >= 3
	})
	check := func(l map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if l[k] != v {
				t.Errorf("access line %v: %s = %v, want %v", l, k, l[k], v)
			}
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Errorf("access line %v: no duration_ms", l)
		}
	}
	check(lines[0], map[string]any{"op": "push", "transport": "http", "session": "acc", "topic": "own", "bytes_in": 5.0,
		"bytes_out": 0.0, "code": string(ptp.OK), "caller": "container", "remote": "127.0.0.1"})
	check(lines[1], map[string]any{"op": "pop", "transport": "grpc", "session": "acc", "topic": "own", "bytes_out": 5.0,
		"code": string(ptp.OK), "caller": "container"})
	check(lines[2], map[string]any{"session": "acc", "topic": "from-a", "bytes_in": 3.0, "code": string(ptp.OK),
		"caller": "partner", "caller_id": "node-a", "transport": "grpc"})
	if len(lines) != 3 {
		t.Errorf("b logged %d access lines of session acc, want 3: %v", len(lines), lines)
	}
	if len(control) == 0 {
		t.Fatal("b logged no control request")
	}
	check(control[0], map[string]any{"path": "POST /v1/interconn/node/refresh", "caller": "operator", "code": string(ptp.OK),
		"transport": "http", "remote": "127.0.0.1"})
	if got := accessLines(t, logA.String()); len(got) != 0 {
		t.Errorf("a, without --access-log, logged access lines: %v", got)
	}

	// On an admin port (which keeps no connection record of its own), the
	// remote is the caller's address, and a caller the gate refused is
	// labelled so, not as an operator.
	ip := meshtest.NonLoopbackIP(t).String()
	var logC meshtest.Log
	c := meshtest.Start(t, host.Config{AccessLog: true, AdminListen: net.JoinHostPort(ip, "0"), AdminToken: "s3cret-admin",
		Logger: slog.New(slog.NewJSONHandler(&logC, nil))})
	if r := meshtest.Post(t, c.AdminURL, "/v1/interconn/node/refresh", nil, map[string]string{"node_id": "node-c"}); r.Code != ptp.Unauthorized {
		t.Fatalf("admin port without the token: %s", r.Body)
	}
	if r := meshtest.Post(t, c.AdminURL, "/v1/interconn/node/refresh", map[string]string{"Authorization": "Bearer s3cret-admin"},
		map[string]string{"node_id": "node-c"}); r.Code != ptp.OK {
		t.Fatalf("admin port with the token: %s", r.Body)
	}
	control = nil
	meshtest.WaitFor(t, 20*time.Second, "two control lines on c's admin port", func() bool {
		control = nil
		for _, l := range accessLines(t, logC.String()) {
			if l["path"] == "POST /v1/interconn/node/refresh" {
				control = append(control, l)
			}
		}
		return len(control) >= 2
	})
	check(control[0], map[string]any{"caller": "refused", "code": string(ptp.Unauthorized), "remote": ip})
	check(control[1], map[string]any{"caller": "operator", "code": string(ptp.OK), "remote": ip})
}
