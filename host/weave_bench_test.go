package host_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/pki"
)

// BenchmarkCrossNode measures A→B over mTLS: containers push to node A
// with node B as target while containers at B pop. A push returns once B
// has stored the message. Latencies are push at A → pop at B.
//
//	go test ./host -run '^$' -bench CrossNode -benchtime 5000x
func BenchmarkCrossNode(b *testing.B) {
	for _, c := range []struct{ size, conc int }{{1 << 10, 1}, {1 << 10, 8}, {1 << 20, 2}} {
		b.Run(fmt.Sprintf("grpc/%dKiB/c%d", c.size>>10, c.conc), func(b *testing.B) {
			a, bn := pair(b, nil)
			push := meshtest.NewGRPCClient(meshtest.Dial(b, a.Addr), "bench")
			push.Target = bn.ID
			pop := meshtest.NewGRPCClient(meshtest.Dial(b, bn.Addr), "bench")
			benchPushPop(b, push, pop, c.size, c.conc)
		})
	}
	b.Run("http/1KiB/c8", func(b *testing.B) {
		a, bn := pair(b, nil)
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		push := &meshtest.HTTPClient{URL: a.URL, Session: "bench", Raw: true, Target: bn.ID, Client: hc}
		pop := &meshtest.HTTPClient{URL: bn.URL, Session: "bench", Raw: true, Client: hc}
		benchPushPop(b, push, pop, 1<<10, 8)
	})
}

// BenchmarkTLSEcho is the ceiling beside BenchmarkCrossNode: a trivial Go
// echo over TLS 1.3 on loopback, conc connections moving the same payloads.
// "pingpong" waits for each echo (latency, like a push awaiting its ack);
// "pipelined" keeps writing while echoes come back (throughput).
//
//	go test ./host -run '^$' -bench TLSEcho -benchtime 5000x
func BenchmarkTLSEcho(b *testing.B) {
	addr, cfg := tlsEchoServer(b)
	for _, mode := range []string{"pingpong", "pipelined"} {
		for _, c := range []struct{ size, conc int }{{1 << 10, 1}, {1 << 10, 8}, {1 << 20, 2}} {
			b.Run(fmt.Sprintf("%s/%dKiB/c%d", mode, c.size>>10, c.conc), func(b *testing.B) {
				per := max(b.N/c.conc, 1)
				lat := make([][]time.Duration, c.conc)
				conns := make([]net.Conn, c.conc)
				for i := range conns {
					conn, err := tls.Dial("tcp", addr, cfg)
					if err != nil {
						b.Fatal(err)
					}
					defer conn.Close()
					conns[i] = conn
				}
				b.SetBytes(int64(c.size))
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for i, conn := range conns {
					wg.Go(func() {
						var err error
						if mode == "pingpong" {
							lat[i], err = pingpong(conn, c.size, per)
						} else {
							err = pipelined(conn, c.size, per)
						}
						if err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				msgs := float64(per*c.conc) / time.Since(start).Seconds()
				b.ReportMetric(msgs, "msgs/s")
				b.ReportMetric(msgs*float64(c.size)/1e6, "MB/s")
				if all := slices.Concat(lat...); len(all) > 0 {
					slices.Sort(all)
					b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
				}
			})
		}
	}
}

func pingpong(c net.Conn, size, n int) ([]time.Duration, error) {
	msg, back := make([]byte, size), make([]byte, size)
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

func pipelined(c net.Conn, size, n int) error {
	errc := make(chan error, 1)
	go func() {
		msg := make([]byte, size)
		for range n {
			if _, err := c.Write(msg); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if _, err := io.CopyN(io.Discard, c, int64(size*n)); err != nil {
		return err
	}
	return <-errc
}

// tlsEchoServer serves a TLS 1.3 echo on loopback with a certificate from
// a fresh root, and returns a client configuration that trusts it.
func tlsEchoServer(b *testing.B) (string, *tls.Config) {
	root, err := pki.NewRoot("echo root")
	if err != nil {
		b.Fatal(err)
	}
	kp, err := pki.Issue(root, "echo", []string{"127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
}
