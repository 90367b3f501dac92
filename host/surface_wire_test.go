package host_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The gRPC and byte-level half of the whole-surface barrage
// (TestWholeSurfaceBarrage in surface_test.go): hostile calls of every
// method of both PTP services, transport streams, and raw junk on the
// mixed port.

// partnerConn is a gRPC connection over mTLS with node-a's credentials.
func partnerConn(t *testing.T, b *meshtest.Node, root pki.KeyPair) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(b.Addr, grpc.WithTransportCredentials(credentials.NewTLS(partnerTLS(t, b, root, "node-a"))),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// grpcCase is one hostile gRPC call.
type grpcCase struct {
	name   string
	method string            // full method name
	md     map[string]string // outgoing metadata
	msg    []byte            // raw request message
}

// rawProto encodes raw protobuf fields: (field, bytes) of wire type 2, or
// (field, varint) of wire type 0 when v is a uint64.
func rawProto(fields ...any) []byte {
	var b []byte
	for i := 0; i+1 < len(fields); i += 2 {
		f := uint64(fields[i].(int))
		switch v := fields[i+1].(type) {
		case uint64:
			b = binary.AppendUvarint(b, f<<3)
			b = binary.AppendUvarint(b, v)
		case []byte:
			b = binary.AppendUvarint(b, f<<3|2)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// surfaceGRPCCases are the hostile calls of every gRPC method of both PTP
// services, under both packages (org.ppc.ptp and Kuscia's org.ppc.grpc_ptp).
func surfaceGRPCCases() []grpcCase {
	bad := []byte("t\x00\xff\xfe")
	entry := func(k, v []byte) []byte { return rawProto(1, k, 2, v) }
	bodies := map[string][]byte{
		"garbage":            {0x0a, 0xff, 0xff, 0xff, 0x0f},
		"empty":              {},
		"invalid utf-8":      rawProto(1, bad, 2, bad, 3, entry(bad, bad)),
		"4100-byte topic":    rawProto(1, []byte(long("t", 4100)), 2, []byte("x")),
		"huge timeout":       rawProto(1, []byte("t"), 2, uint64(1<<63)),
		"unknown fields":     rawProto(1, []byte("t"), 99, []byte("x"), 2, uint64(1)),
		"nested metadata":    rawProto(1, entry([]byte(long("k", 4100)), []byte(long("v", 4100))), 2, []byte("p")),
		"duplicate fields":   rawProto(1, []byte("t"), 1, []byte(long("u", 4100)), 2, uint64(1), 2, uint64(1)),
		"truncated varint":   {0x10, 0xff, 0xff},
		"wrong wire type":    {0x0d, 0x00, 0x00, 0x00, 0x00},
		"deep length prefix": {0x0a, 0xff, 0xff, 0xff, 0xff, 0x07},
	}
	mds := map[string]map[string]string{
		"plain":                {ptp.HeaderSessionID: "barrage", ptp.HeaderTimeout: "1"},
		"no session":           {ptp.HeaderTimeout: "1"},
		"4100-byte session id": {ptp.HeaderSessionID: long("s", 4100), ptp.HeaderTimeout: "1"},
		"4100-byte topic":      {ptp.HeaderSessionID: "barrage", ptp.HeaderTopic: long("t", 4100), ptp.HeaderTimeout: "1"},
		"4100-byte uri":        {ptp.HeaderSessionID: "barrage", ptp.HeaderURI: "grpcs://x/" + long("a/", 4100), ptp.HeaderTimeout: "1"},
		"binary metadata":      {ptp.HeaderSessionID + "-bin": "\x00\xff", "x-ptp-topic-bin": "\xff", ptp.HeaderTimeout: "1"},
		"timeout garbage":      {ptp.HeaderSessionID: "barrage", ptp.HeaderTimeout: "-99999999999999999999"},
		"1 MiB metadata":       {ptp.HeaderSessionID: "barrage", ptp.HeaderTraceID: long("m", 1<<20), ptp.HeaderTimeout: "1"},
	}
	wellFormed := rawProto(1, []byte("t"), 2, []byte("x"))
	var cs []grpcCase
	all := []string{"PrivateTransferTransport/push", "PrivateTransferTransport/pop", "PrivateTransferTransport/peek",
		"PrivateTransferTransport/release", "PrivateTransferProtocol/invoke", "PrivateTransferTransport/nosuch"}
	// Kuscia's package is served by the same code: its push and invoke suffice.
	for pkg, ms := range map[string][]string{"org.ppc.ptp": all, "org.ppc.grpc_ptp": {all[0], all[4]}} {
		for _, m := range ms {
			for bn, body := range bodies { // each hostile body with plain metadata
				cs = append(cs, grpcCase{fmt.Sprintf("%s.%s [%s body]", pkg, m, bn), "/" + pkg + "." + m, mds["plain"], body})
			}
			for mn, md := range mds { // each hostile metadata with a well-formed body
				cs = append(cs, grpcCase{fmt.Sprintf("%s.%s [%s metadata]", pkg, m, mn), "/" + pkg + "." + m, md, wellFormed})
			}
		}
	}
	return cs
}

// grpcFinding says what is wrong with a call's outcome, or "": refusals by
// gRPC (bad message, too large, unimplemented, denied) are fine; a reply
// with code 500 or an Unknown status is not.
func grpcFinding(name string, reply []byte, err error) string {
	if err != nil {
		switch status.Code(err) {
		case codes.InvalidArgument, codes.ResourceExhausted, codes.Unimplemented, codes.PermissionDenied,
			codes.Unauthenticated, codes.Internal, codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
			if status.Code(err) == codes.Internal && !strings.Contains(err.Error(), "unmarshal") &&
				!strings.Contains(err.Error(), "header list size") {
				return fmt.Sprintf("%s: %v", name, err)
			}
			return ""
		}
		return fmt.Sprintf("%s: %v", name, err)
	}
	if bytes.Contains(reply, []byte(ptp.SystemError)) {
		return fmt.Sprintf("%s: a reply with code %s: %q", name, ptp.SystemError, reply)
	}
	return ""
}

// barrageGRPC makes every hostile call over cc and returns the findings.
func barrageGRPC(t *testing.T, cc *grpc.ClientConn, who string) (sent int, findings []string) {
	t.Helper()
	cases := surfaceGRPCCases()
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), metadata.New(c.md)), 20*time.Second)
		msg, out := rawMsg(c.msg), new(rawMsg)
		err := cc.Invoke(ctx, c.method, &msg, out, grpc.ForceCodec(rawCodec{}))
		cancel()
		if f := grpcFinding(who+" "+c.name, *out, err); f != "" {
			findings = append(findings, f)
		}
	}
	return len(cases), findings
}

// barrageStream opens PrivateTransferProtocol.transport streams and sends
// garbage, oversized and half-finished messages on them.
func barrageStream(t *testing.T, cc *grpc.ClientConn, who string) (sent int, findings []string) {
	t.Helper()
	desc := &grpc.StreamDesc{StreamName: "transport", ServerStreams: true, ClientStreams: true}
	for _, pkg := range []string{"org.ppc.ptp", "org.ppc.grpc_ptp"} {
		for name, msgs := range map[string][][]byte{
			"garbage":         {{0x0a, 0xff, 0xff, 0xff, 0x0f}},
			"hostile inbound": {rawProto(1, rawProto(1, []byte(ptp.HeaderURI), 2, []byte("\x00\xff")), 2, []byte("p")), {}},
			"4100-byte keys":  {rawProto(1, rawProto(1, []byte(ptp.HeaderSessionID), 2, []byte(long("s", 4100))), 2, []byte("p"))},
			"many":            repeated([]byte{0x12, 0x01, 'p'}, 200),
		} {
			sent++
			f := streamOnce(cc, desc, "/"+pkg+".PrivateTransferProtocol/transport", msgs)
			if f != nil {
				findings = append(findings, fmt.Sprintf("%s %s transport [%s]: %v", who, pkg, name, f))
			}
		}
	}
	return sent, findings
}

// repeated is n copies of msg.
func repeated(msg []byte, n int) [][]byte {
	ms := make([][]byte, n)
	for i := range ms {
		ms[i] = msg
	}
	return ms
}

// streamOnce sends msgs on one stream, half-closes and reads until the
// server ends it; an error only when the node misbehaves.
func streamOnce(cc *grpc.ClientConn, desc *grpc.StreamDesc, method string, msgs [][]byte) error {
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(),
		metadata.Pairs(ptp.HeaderSessionID, "barrage", ptp.HeaderTimeout, "1")), 20*time.Second)
	defer cancel()
	s, err := cc.NewStream(ctx, desc, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return ignoreRefusal(err)
	}
	for _, m := range msgs {
		msg := rawMsg(m)
		if err := s.SendMsg(&msg); err != nil {
			break
		}
	}
	_ = s.CloseSend()
	for range 1000 {
		out := new(rawMsg)
		if err := s.RecvMsg(out); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return ignoreRefusal(err)
		}
		if bytes.Contains(*out, []byte(ptp.SystemError)) {
			return fmt.Errorf("a reply with code %s: %q", ptp.SystemError, *out)
		}
	}
	return errors.New("the stream never ended")
}

// ignoreRefusal is nil for the statuses a refused stream may end with.
func ignoreRefusal(err error) error {
	if f := grpcFinding("", nil, err); f != "" {
		return err
	}
	return nil
}

// rawExchange writes junk on a fresh connection to addr, half-closes it and
// reads whatever comes back: the node must close its side within 10 s.
func rawExchange(addr string, tlsConf *tls.Config, junk []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var conn interface {
		net.Conn
		CloseWrite() error
	} = c.(*net.TCPConn)
	if tlsConf != nil {
		tc := tls.Client(c, tlsConf)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		conn = tc
	}
	_, _ = conn.Write(junk)
	_ = conn.CloseWrite()
	if _, err := io.Copy(io.Discard, io.LimitReader(conn, 1<<20)); isTimeout(err) {
		return fmt.Errorf("the node held the connection open after the caller closed it: %w", err)
	}
	return nil
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rawJunk is byte-level garbage for the mixed port: HTTP/2 prefaces with
// garbage frames, broken HPACK, HTTP/1.1 with NUL and invalid UTF-8 in
// headers, a request line of 64 KiB, and a TLS record on the plaintext side.
func rawJunk() map[string][]byte {
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	frame := func(typ, flags byte, stream uint32, payload []byte) []byte {
		b := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags}
		return append(binary.BigEndian.AppendUint32(b, stream), payload...)
	}
	settings := frame(4, 0, 0, nil)
	return map[string][]byte{
		"h2 garbage frames":   append([]byte(preface), bytes.Repeat([]byte{0xff}, 4096)...),
		"h2 broken hpack":     append(append([]byte(preface), settings...), frame(1, 5, 1, []byte{0xff, 0xff, 0xff, 0xff, 0x7f})...),
		"h2 headers stream 0": append(append([]byte(preface), settings...), frame(1, 5, 0, []byte{0x82})...),
		"h2 huge frame size":  append(append([]byte(preface), settings...), 0xff, 0xff, 0xff, 1, 4, 0, 0, 0, 1),
		"h2 data unopened":    append(append([]byte(preface), settings...), frame(0, 1, 7, bytes.Repeat([]byte("d"), 1000))...),
		"h2 grpc truncated gzip": append(append(append([]byte(preface), settings...),
			frame(1, 4, 1, h2Headers("/org.ppc.ptp.PrivateTransferTransport/push"))...),
			frame(0, 1, 1, grpcFrame(true, truncatedGzip()))...),
		"h2 preface only":  []byte(preface),
		"http1 nul header": []byte("POST /v1/interconn/chan/push HTTP/1.1\r\nHost: x\r\nx-ptp-session-id: a\x00b\r\nContent-Length: 2\r\n\r\n{}"),
		"http1 invalid utf-8 header": []byte("POST /v1/interconn/chan/push HTTP/1.1\r\nHost: x\r\nx-ptp-session-id: \xff\xfe\r\n" +
			"x-ptp-topic: \xc3\r\nContent-Length: 2\r\n\r\n{}"),
		"http1 64 KiB request line": []byte("GET /" + long("a", 64<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n"),
		"http1 bad chunking":        []byte("POST /v1/interconn/chan/push HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
		"http1 both lengths":        []byte("POST /v1/interconn/chan/push HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		"tls record on plaintext":   {0x16, 0x03, 0x01, 0xff, 0xff, 0x01},
		"nul bytes":                 bytes.Repeat([]byte{0}, 8192),
	}
}

// h2Headers is an HPACK block, literal without indexing, for a gRPC POST.
func h2Headers(path string) []byte {
	lit := func(k, v string) []byte {
		b := []byte{0x00, byte(len(k))}
		b = append(append(b, k...), byte(len(v)))
		return append(b, v...)
	}
	var b []byte
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", "x"},
		{"content-type", "application/grpc"}, {"grpc-encoding", "gzip"}, {"te", "trailers"}, {ptp.HeaderSessionID, "barrage"}} {
		b = append(b, lit(kv[0], kv[1])...)
	}
	return b
}

// barrageRaw sends the raw junk on plaintext connections (a container) and
// inside mTLS connections (a partner).
func barrageRaw(t *testing.T, addr string, partner *tls.Config) (sent int, findings []string) {
	t.Helper()
	for name, junk := range rawJunk() {
		for _, conf := range []*tls.Config{nil, partner} {
			sent++
			began := time.Now()
			err := rawExchange(addr, conf, junk)
			if d := time.Since(began); d > 2*time.Second {
				t.Logf("slow: raw %s (tls %v) took %v", name, conf != nil, d.Round(time.Millisecond))
			}
			if err != nil {
				findings = append(findings, fmt.Sprintf("raw %s (tls %v): %v", name, conf != nil, err))
			}
		}
	}
	return sent, findings
}
