package panel_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

func TestMain(m *testing.M) {
	code := m.Run()
	plugintest.Cleanup() // the plugins built from source for these tests
	os.Exit(code)
}

// chromium is the path of a Chromium binary. Without one the test skips,
// but only outside CI: .ci/run installs Debian's chromium, and there the
// test must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI is set: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}

// browser starts a headless Chromium for the test, bounded by timeout, and
// collects what the page writes to its console as errors.
func browser(t *testing.T, timeout time.Duration) (context.Context, func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("headless", "new"), chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	if err := chromedp.Do(tab); err != nil { // start the browser and its tab
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	listen, stopListen := context.WithCancel(tab)
	messages := chromedp.Console(listen)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		stopListen()
		wg.Wait()
		cancelTab()
		cancelAlloc()
		cancel()
	})
	return tab, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// artefact writes a test artefact: into $MESH_ARTEFACTS when set, else the
// test's temporary directory; and also to $MESH_PANEL_SCREENSHOT when set
// (how docs/panel.png is made).
func artefact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("MESH_ARTEFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if p := os.Getenv("MESH_PANEL_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// run runs one browser action, failing the test on error.
func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// pushN pushes n messages from a to b's node in session s.
func pushN(t *testing.T, a *meshtest.Node, target, session string, n int) {
	t.Helper()
	c := &meshtest.HTTPClient{URL: a.URL, Session: session, Target: target}
	for i := range n {
		if code, err := c.Push(t.Context(), "t", fmt.Appendf(nil, "message %d", i)); code != ptp.OK {
			t.Fatalf("push %d: %s %v", i, code, err)
		}
	}
}

// cellText is the expression for the text of the cell field of the row of
// partner id in the panel's partner table.
func cellText(id, field string) string {
	return fmt.Sprintf(`(document.querySelector('#partners tr[data-node-id=%q] td[data-field=%q]') || {}).textContent`, id, field)
}

// TestPanelInBrowser: node A, woven with B and with traffic A→B, shows in
// a real browser its identity, B's row (node id, state, address, link,
// forwarded count matching the messages sent), the node's counters, and a
// throughput graph that gains points between polls; the page logs no
// error (a Content-Security-Policy violation would be one).
func TestPanelInBrowser(t *testing.T) {
	ctx, consoleErrors := browser(t, 3*time.Minute)
	a := meshtest.Start(t, host.Config{AdminListen: "127.0.0.1:0"})
	b := meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)
	const sent, rounds = 7, 8
	pushN(t, a, "node-b", "job-1", sent)
	a.Install(t, "gzip", plugintest.Build(t, "plugins/gzip"), nil, plugin.Options{}, ptp.OK)
	guide, err := os.ReadFile("../registry/testdata/guide.json")
	if err != nil {
		t.Fatal(err)
	}
	a.Control(t, "/v1/interconn/registry/register", guide, ptp.OK)

	run(t, ctx, "open the panel", chromedp.Navigate(a.AdminURL+"/panel/?interval=500"))
	wait := func(what, expr string) string {
		t.Helper()
		return run(t, ctx, what, chromedp.Poll[string](expr, chromedp.WithPollingTimeout(60*time.Second)))
	}
	wait("node id shown", `document.getElementById('node-id').textContent === 'node-a' && 'ok'`)
	wait("partner row with its figures", fmt.Sprintf(`%s === %q && %s`, cellText("node-b", "forwarded"), strconv.Itoa(sent), cellText("node-b", "forwarded")))
	for field, want := range map[string]string{"node_id": "node-b", "inst_id": "inst-b", "state": "woven", "address": b.Addr, "up": "up"} {
		if got := run(t, ctx, "read "+field, chromedp.Evaluate[string](cellText("node-b", field))); got != want {
			t.Errorf("partner row %s: %q, want %q", field, got, want)
		}
	}
	if got := run(t, ctx, "read the node's forwarded total", chromedp.Evaluate[string](`document.getElementById('q-forwarded').textContent`)); got != strconv.Itoa(sent) {
		t.Errorf("node's forwarded total %q, want %d", got, sent)
	}

	// The graph gains a point at each poll while rounds of traffic go to B
	// and through A's own queue (two messages of each round left held).
	samples := func() int {
		n, _ := strconv.Atoi(run(t, ctx, "read the graph", chromedp.Evaluate[string](`document.getElementById('graph').dataset.samples`)))
		return n
	}
	local := &meshtest.HTTPClient{URL: a.URL, Session: "local"}
	forwarded, held := sent, 0
	for round := range rounds {
		before := samples()
		pushN(t, a, "node-b", "job-2", round+1)
		forwarded += round + 1
		pushN(t, a, "", "local", round+2)
		held += 2 // of round+2, round are popped below
		for range round {
			if _, code, err := local.Pop(t.Context(), "t", 10000); code != ptp.OK {
				t.Fatalf("pop at a: %s %v", code, err)
			}
		}
		wait("the graph updates", fmt.Sprintf(`Number(document.getElementById('graph').dataset.samples) >= %d && 'ok'`, before+1))
	}
	wait("every message counted", fmt.Sprintf(`%s === %q && 'ok'`, cellText("node-b", "forwarded"), strconv.Itoa(forwarded)))
	wait("the graph settles", fmt.Sprintf(`Number(document.getElementById('graph').dataset.samples) >= %d && 'ok'`, samples()+2))
	for expr, want := range map[string]string{
		`document.getElementById('q-forwarded').textContent`:                                                     strconv.Itoa(forwarded),
		`document.getElementById('q-sessions').textContent`:                                                      "1",
		`document.getElementById('q-held-messages').textContent`:                                                 strconv.Itoa(held),
		`document.querySelector('#plugins td[data-field=name]').textContent`:                                     "gzip",
		`document.querySelector('#plugins td[data-field=state]').textContent`:                                    "enabled",
		`[...document.querySelectorAll('#services td[data-field=route]')].map(e => e.textContent).sort().join()`: "grpc /a/b/c,http /a/b/c",
	} {
		if got := run(t, ctx, "read "+expr, chromedp.Evaluate[string](expr)); got != want {
			t.Errorf("%s: %q, want %q", expr, got, want)
		}
	}
	points := run(t, ctx, "read the forwarded line", chromedp.Evaluate[string](`document.getElementById('line-forwarded').getAttribute('points')`))
	if n := len(strings.Fields(points)); n < rounds {
		t.Errorf("forwarded line has %d points, want at least %d", n, rounds)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %q", errs)
	}
	shot := run(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	artefact(t, "panel.png", shot)
}

// TestPanelAsksRemoteOperatorsForTheToken: loaded from another address,
// the page gets 403 from the API and shows its token field; with the admin
// token typed in, it shows the node, and the token appears nowhere on the
// page.
func TestPanelAsksRemoteOperatorsForTheToken(t *testing.T) {
	ip := meshtest.NonLoopbackIP(t)
	ctx, _ := browser(t, 2*time.Minute) // the 403s are console errors here: not checked
	const token = "panel-t0ken"
	a := meshtest.Start(t, host.Config{AdminListen: "0.0.0.0:0", AdminToken: token})
	a.Identify(t, "node-a", "inst-a")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(a.AdminURL, "http://"))
	run(t, ctx, "open the panel from afar", chromedp.Navigate("http://"+net.JoinHostPort(ip.String(), port)+"/panel/?interval=300"))
	poll := func(what, expr string) {
		t.Helper()
		run(t, ctx, what, chromedp.Poll[string](expr, chromedp.WithPollingTimeout(60*time.Second)))
	}
	poll("the token field", `!document.getElementById('token-form').hidden && document.getElementById('error').textContent.includes('E0000000403') && 'ok'`)
	if got := run(t, ctx, "node id before the token", chromedp.Evaluate[string](`document.getElementById('node-id').textContent`)); got == "node-a" {
		t.Fatal("the page showed the node before the token")
	}
	run(t, ctx, "type the token", chromedp.Evaluate[string](fmt.Sprintf(
		`document.getElementById('token').value = %q; document.getElementById('token-form').requestSubmit(); 'ok'`, token)))
	poll("the node shown", `document.getElementById('node-id').textContent === 'node-a' && document.getElementById('token-form').hidden && 'ok'`)
	if shown := run(t, ctx, "look for the token", chromedp.Evaluate[bool](fmt.Sprintf(
		`document.documentElement.outerHTML.includes(%q) || document.getElementById('token').value !== ''`, token))); shown {
		t.Fatal("the token is rendered in the page")
	}
}
