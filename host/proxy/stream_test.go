package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/registry"
)

const (
	bigBody  = 64 << 20 // bytes up and down
	heapRoom = 16 << 20 // heap growth allowed while they stream: a quarter of one body
)

// pattern is an endless deterministic byte stream.
type pattern struct{ n int }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.n % 251)
		p.n++
	}
	return len(b), nil
}

// checkPattern counts the bytes of r and checks they are pattern's.
func checkPattern(r io.Reader) (int64, error) {
	var n int64
	buf := make([]byte, 32<<10)
	for {
		k, err := r.Read(buf)
		for i := range k {
			if buf[i] != byte((n+int64(i))%251) {
				return n, fmt.Errorf("byte %d differs", n+int64(i))
			}
		}
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// heapPeak samples HeapInuse until stop is called, which returns the
// peak growth over the baseline taken at the start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
				peak.Store(m.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func TestStreaming64MiBBoundedHeap(t *testing.T) {
	up := newBackend(t, "up", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			n, err := checkPattern(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, n)
		default:
			w.Header().Set("Content-Length", strconv.Itoa(bigBody))
			io.Copy(w, io.LimitReader(&pattern{}, bigBody))
		}
	})
	tbl := newTable(route(registry.ProtoHTTP, "/big", up.addr))
	url := front(t, newProxy(t, tbl), tbl)

	stop := heapPeak()
	req, _ := http.NewRequest(http.MethodPut, url+"/big", io.LimitReader(&pattern{}, bigBody))
	req.ContentLength = bigBody
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(got) != strconv.Itoa(bigBody) {
		t.Fatalf("upload: upstream answered %d %q", res.StatusCode, got)
	}
	res, err = http.Get(url + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, err := checkPattern(res.Body)
	res.Body.Close()
	if err != nil || n != bigBody {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	peak := stop()
	t.Logf("64 MiB up and 64 MiB down through the proxy: peak heap growth %.1f MiB", float64(peak)/(1<<20))
	if peak > heapRoom {
		t.Fatalf("heap grew %d bytes while streaming, want under %d", peak, heapRoom)
	}
}
