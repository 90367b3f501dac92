package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/ptp"
)

// retriedCodes are the partner answers another attempt may change: the
// partner is busy, failed inside, or ran out of time. Every other code is a
// refusal a retry would only repeat.
var retriedCodes = []ptp.Code{ptp.BufferFull, ptp.SystemError, ptp.Timeout}

// TestRetryableByCode: every code of the table is classified, and only the
// transient ones are retried.
func TestRetryableByCode(t *testing.T) {
	for _, c := range ptp.Codes() {
		want := slices.Contains(retriedCodes, c)
		err := ptp.Errorf(c, "partner node-p: answer")
		if got := retryable(err); got != want {
			t.Errorf("%s (%s): retryable %v, want %v", c, c.Message(), got, want)
		}
		if got := retryable(fmt.Errorf("push: %w", err)); got != want {
			t.Errorf("%s wrapped: retryable %v, want %v", c, got, want)
		}
		if deterministic[c] && want {
			t.Errorf("%s is both deterministic and retried", c)
		}
	}
}

// TestDeterministicRefusals: the 4xx-like refusals fail a push at once;
// none of them is retried, wherever it is wrapped.
func TestDeterministicRefusals(t *testing.T) {
	for _, c := range []ptp.Code{ptp.BadRequest, ptp.Unauthorized, ptp.NotFound, ptp.TooLarge, ptp.Incompatible,
		ptp.CertificateError, ptp.TokenExpired, ptp.NetworkExpired, ptp.PeerDisabled, ptp.NotPermitted,
		ptp.BadSignature, ptp.CodecError, ptp.NoSuchService, ptp.NotWoven, ptp.BadAddress} {
		if !deterministic[c] {
			t.Errorf("%s (%s) is not in the deterministic table", c, c.Message())
		}
		// A refusal wrapping a deadline is still a refusal.
		if retryable(&ptp.Error{Code: c, Err: context.DeadlineExceeded}) {
			t.Errorf("%s wrapping a deadline is retried", c)
		}
	}
}

// TestRetryableErrors: transport failures and deadlines are retried, also
// under the NetworkUnreachable wrapper deliver puts on them (so that the
// outbox parks them); anything else is not.
func TestRetryableErrors(t *testing.T) {
	transport := unreachable(errors.New("dial tcp 127.0.0.1:1: connection refused"))
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"transport", transport, true},
		{"transport wrapped", fmt.Errorf("attempt 3: %w", transport), true},
		{"unreachable after retries", &ptp.Error{Code: ptp.NetworkUnreachable, Err: transport}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"deadline wrapped", fmt.Errorf("call: %w", context.DeadlineExceeded), true},
		{"cancelled", context.Canceled, false},
		{"plain error", errors.New("boom"), false},
		{"unreachable without a cause", ptp.Errorf(ptp.NetworkUnreachable, "partner node-p"), false},
		{"no error", nil, false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("%s: retryable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFailedGRPC: how a failed gRPC call is classified: a partner that
// lacks the call or calls the request malformed fails at once; anything
// else may pass on another attempt.
func TestFailedGRPC(t *testing.T) {
	l := &link{node: "node-p"}
	for _, tc := range []struct {
		name  string
		err   error
		code  ptp.Code
		retry bool
	}{
		{"unimplemented", status.Error(codes.Unimplemented, "unknown method transport"), ptp.NoSuchService, false},
		{"invalid argument", status.Error(codes.InvalidArgument, "proto: cannot parse"), ptp.BadRequest, false},
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), "", true},
		{"internal", status.Error(codes.Internal, "stream reset"), "", true},
		{"not a status", errors.New("eof"), "", true},
	} {
		err := l.failed(tc.err)
		if c, _ := ptp.Describe(err); tc.code != "" && c != tc.code {
			t.Errorf("%s: code %s, want %s (%v)", tc.name, c, tc.code, err)
		}
		if got := retryable(err); got != tc.retry {
			t.Errorf("%s: retryable %v, want %v (%v)", tc.name, got, tc.retry, err)
		}
	}
}

// TestDoHTTPClassifies: a partner's HTTP answer becomes its code (a
// refusal is final), a reply that is not PTP is a final Incompatible, and
// a partner that cannot be reached is retried.
func TestDoHTTPClassifies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		code  ptp.Code
		retry bool
	}{
		{"stored", `{"code":"E0000000000","message":"ok"}`, ptp.OK, false},
		{"refused", `{"code":"E0000000400","message":"missing topic"}`, ptp.BadRequest, false},
		{"busy", `{"code":"E0000000700","message":"buffer full"}`, ptp.BufferFull, true},
		{"unknown code", `{"code":"E9999999999","message":"?"}`, ptp.Incompatible, false},
		{"not PTP", `<html>bad gateway</html>`, ptp.Incompatible, false},
		{"Kuscia's protobuf reply", "\x12\x0bE0000000603\x1a\x02no", ptp.CertificateError, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(tc.body))
		}))
		err := postTo(srv.URL, srv.Client())
		srv.Close()
		if c, _ := ptp.Describe(err); c != tc.code {
			t.Errorf("%s: code %s, want %s (%v)", tc.name, c, tc.code, err)
		}
		if got := retryable(err); got != tc.retry {
			t.Errorf("%s: retryable %v, want %v", tc.name, got, tc.retry)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	if err := postTo("http://"+addr, http.DefaultClient); !retryable(err) {
		t.Errorf("unreachable partner: %v is not retried", err)
	}
}

// postTo sends one HTTP invoke through a link to url.
func postTo(url string, hc *http.Client) error {
	l := &link{node: "node-p", http: hc, base: url}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/interconn/chan/invoke", nil)
	return l.doHTTP(req)
}
