package portmux

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// serve starts a mux whose two listeners answer with their name.
func serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln)
	go func() { _ = m.Serve() }()
	t.Cleanup(func() { _ = m.Close() })
	for name, l := range map[string]net.Listener{"grpc": m.GRPC(), "http": m.HTTP()} {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_, _ = c.Write([]byte(name))
					_, _ = io.Copy(io.Discard, c)
				}()
			}
		}()
	}
	return ln.Addr().String()
}

func routedTo(t *testing.T, addr string, send func(net.Conn)) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	buf := make([]byte, 4)
	n, _ := io.ReadFull(br, buf)
	if string(buf[:n]) == "\x00\x00\x00\x04" { // the empty SETTINGS frame the mux sent
		_, _ = br.Discard(5)
		n, _ = io.ReadFull(br, buf)
	}
	return string(buf[:n])
}

// headers writes a request's HEADERS frame: content-type, then any extra
// name, value pairs.
func headers(t *testing.T, c net.Conn, contentType string, end bool, extra ...string) {
	fr := http2.NewFramer(c, nil)
	var hb []byte
	enc := hpack.NewEncoder(&byteWriter{&hb})
	fields := [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/x"}, {":authority", "h"}, {"content-type", contentType}}
	for i := 0; i+1 < len(extra); i += 2 {
		fields = append(fields, [2]string{extra[i], extra[i+1]})
	}
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb, EndHeaders: true, EndStream: end}); err != nil {
		t.Fatal(err)
	}
}

type byteWriter struct{ b *[]byte }

func (w *byteWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

func TestRouting(t *testing.T) {
	addr := serve(t)
	cases := map[string]struct {
		send func(net.Conn)
		want string
	}{
		"http/1.1":     {func(c net.Conn) { _, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }, "http"},
		"short http/1": {func(c net.Conn) { _, _ = c.Write([]byte("G")) }, "http"},
		"h2c grpc": {func(c net.Conn) {
			_, _ = c.Write([]byte(preface))
			_ = http2.NewFramer(c, nil).WriteSettings()
			headers(t, c, "application/grpc+proto", false, "user-agent", "grpc-go/1.85.0")
		}, "grpc"},
		// gRPC first, but not from a gRPC library: the connection may mix
		// (an HTTP client, or a proxy pooling it), so it goes to the HTTP
		// server, which serves gRPC per request.
		"h2c grpc, other client": {func(c net.Conn) {
			_, _ = c.Write([]byte(preface))
			_ = http2.NewFramer(c, nil).WriteSettings()
			headers(t, c, "application/grpc", false, "user-agent", "Go-http-client/2.0")
		}, "http"},
		"h2c grpc, no user-agent": {func(c net.Conn) {
			_, _ = c.Write([]byte(preface))
			_ = http2.NewFramer(c, nil).WriteSettings()
			headers(t, c, "application/grpc", false)
		}, "http"},
		// The older Mesh's proxy (Traefik) forwards its container's
		// grpc-go user-agent, and adds forwarding headers.
		"h2c grpc via proxy": {func(c net.Conn) {
			_, _ = c.Write([]byte(preface))
			_ = http2.NewFramer(c, nil).WriteSettings()
			headers(t, c, "application/grpc", false, "user-agent", "grpc-go/1.60.1",
				"x-forwarded-for", "127.0.0.9", "x-forwarded-host", "ptp.cn", "x-real-ip", "127.0.0.9")
		}, "http"},
		"h2c grpc-web": {func(c net.Conn) {
			_, _ = c.Write([]byte(preface))
			_ = http2.NewFramer(c, nil).WriteSettings()
			headers(t, c, "application/grpc-web", false, "user-agent", "grpc-go/1.85.0")
		}, "http"},
		"h2c http": {func(c net.Conn) {
			_, _ = c.Write([]byte(preface))
			_ = http2.NewFramer(c, nil).WriteSettings()
			headers(t, c, "application/json", true)
		}, "http"},
		// A client that waits for the server's SETTINGS before its first
		// request (grpc-java does) gets them, then is served as gRPC.
		"silent h2 client": {func(c net.Conn) {
			_, _ = c.Write([]byte(preface))
			_ = http2.NewFramer(c, nil).WriteSettings()
			f, err := http2.NewFramer(nil, c).ReadFrame()
			if err != nil || f.Header().Type != http2.FrameSettings {
				t.Errorf("no server SETTINGS for a waiting client: %v %v", f, err)
			}
			headers(t, c, "application/grpc", false)
		}, "grpc"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := routedTo(t, addr, c.send); got != c.want {
				t.Fatalf("routed to %q, want %q", got, c.want)
			}
		})
	}
}

func TestRealHTTPClientThroughMux(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln)
	go func() { _ = m.Serve() }()
	defer m.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.Proto)) })}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = p
	go func() { _ = srv.Serve(m.HTTP()) }()
	defer srv.Close()
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{}
		if h2 {
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
		}
		resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]; string(b) != want {
			t.Fatalf("got %q want %q", b, want)
		}
	}
}
