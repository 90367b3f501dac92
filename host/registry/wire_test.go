package registry

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/internal/reserved"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/ptp"
)

// guide is the PTP guide's registration (issue 15) with real addresses,
// and a field the guide does not name (peers send extras).
var guide = strings.Replace(readGuide(), `"attachments":{},`, `"attachments":{},"extra_from_a_peer":{"ignored":true},`, 1)

// readGuide reads testdata/guide.json, which host's tests share.
func readGuide() string {
	b, err := os.ReadFile("testdata/guide.json")
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(b))
}

var t0 = time.UnixMilli(1_900_000_000_000)

// TestParseGuide: the guide's exact JSON (and an unknown field) parses,
// each service with its settings.
func TestParseGuide(t *testing.T) {
	reg, err := ParseRegistration([]byte(guide), t0)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Name != "tensorserving" || reg.InstanceID != "127.0.0.1:8500" || len(reg.Content.Services) != 2 {
		t.Fatalf("parsed %+v", reg)
	}
	if exp, _ := reg.Expiry(t0); !exp.Equal(t0.Add(300 * time.Second)) {
		t.Fatalf("expiry %v", exp)
	}
	h, _ := reg.Content.Services[0].parse(reg.Address)
	g, _ := reg.Content.Services[1].parse(reg.Address)
	if h.h2 || h.proto != ProtoHTTP || h.timeout != 10*time.Second || h.address != "127.0.0.1:8501" || h.prefix {
		t.Fatalf("http service %+v", h)
	}
	if !g.h2 || g.proto != ProtoGRPC || g.prefix {
		t.Fatalf("grpc service %+v", g)
	}
}

// mutate is the guide with one change, made by replacing old with new.
func mutate(t *testing.T, old, new string) []byte {
	t.Helper()
	if !strings.Contains(guide, old) {
		t.Fatalf("guide lacks %q", old)
	}
	return []byte(strings.Replace(guide, old, new, 1))
}

// TestParseRefusals: each bad field answers BadRequest naming it by its
// JSON path.
func TestParseRefusals(t *testing.T) {
	svc0 := `{"urn":"/a/b/c","kind":"Restful","namespace"`
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"no instance_id", `"instance_id":"127.0.0.1:8500",`, ``, "instance_id: required"},
		{"no address", `"address":"127.0.0.1:8500",`, ``, "address: required"},
		{"no name", `"name":"tensorserving",`, ``, "name: required"},
		{"no kind", `"kind":"complex",`, ``, "kind: required"},
		{"no content", `"content":{"services":[`, `"c":{"services":[`, "content: required"},
		{"no services", `"content":{"services":[`, `"content":{"s":[`, "content.services: at least one"},
		{"other kind", `"kind":"complex"`, `"kind":"simple"`, "kind: \"simple\""},
		{"address without port", `"address":"127.0.0.1:8500"`, `"address":"127.0.0.1"`, "address: "},
		{"address with scheme", `"address":"127.0.0.1:8500"`, `"address":"http://127.0.0.1:80"`, "address: "},
		{"service address port 0", `"address":"127.0.0.1:8501"`, `"address":"127.0.0.1:0"`, "content.services[0].address: "},
		{"relative urn", svc0, `{"urn":"a/b","kind":"Restful","namespace"`, "content.services[0].urn: "},
		{"dotdot urn", svc0, `{"urn":"/a/../v1","kind":"Restful","namespace"`, "content.services[0].urn: "},
		{"double slash urn", svc0, `{"urn":"/a//b","kind":"Restful","namespace"`, "content.services[0].urn: "},
		{"space urn", svc0, `{"urn":"/a b","kind":"Restful","namespace"`, "content.services[0].urn: "},
		{"inner star urn", svc0, `{"urn":"/a/*/b","kind":"Restful","namespace"`, "content.services[0].urn: "},
		{"long urn", svc0, `{"urn":"/` + strings.Repeat("a", MaxURN) + `","kind":"Restful","namespace"`, "content.services[0].urn: "},
		{"shadow chan push", svc0, `{"urn":"/v1/interconn/chan/push","kind":"Restful","namespace"`, "content.services[0].urn: \"/v1/interconn/chan/push\" is one of the node's own"},
		{"shadow interconn prefix", svc0, `{"urn":"/v1/interconn/*","kind":"Restful","namespace"`, "one of the node's own"},
		{"shadow stats", svc0, `{"urn":"/stats","kind":"Restful","namespace"`, "one of the node's own"},
		{"catch-all", svc0, `{"urn":"/*","kind":"Restful","namespace"`, "content.services[0].urn: \"/*\" would cover the node's own endpoints"},
		{"v1 prefix", svc0, `{"urn":"/v1/*","kind":"Restful","namespace"`, "would cover the node's own endpoints (/v1/interconn/)"},
		{"grpc v1 prefix", `"urn":"/a/b/c","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc"`,
			`"urn":"/v1/","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc"`, "content.services[1].urn: \"/v1/\" would cover"},
		{"params dotdot urn", svc0, `{"urn":"/a/..;x/v1","kind":"Restful","namespace"`, "content.services[0].urn: "},
		{"backslash urn", svc0, `{"urn":"/a/..\\v1","kind":"Restful","namespace"`, "content.services[0].urn: "},
		{"shadow metrics", svc0, `{"urn":"/metrics","kind":"Restful","namespace"`, "one of the node's own"},
		{"shadow grpc protocol", `"urn":"/a/b/c","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc"`,
			`"urn":"/org.ppc.ptp.PrivateTransferProtocol/","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc"`, "content.services[1].urn: "},
		{"shadow grpc transport", `"urn":"/a/b/c","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc"`,
			`"urn":"/org.ppc.ptp.PrivateTransferTransport/push","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc"`, "content.services[1].urn: "},
		{"bad proto", `"proto":"http"`, `"proto":"ftp"`, "content.services[0].proto: "},
		{"duplicate", `"proto":"grpc"`, `"proto":"http"`, "content.services[1].urn: http /a/b/c again"},
		{"timeout too long", `"timeout":10000`, `"timeout":3600001`, "content.services[0].timeout: "},
		{"negative retries", `"retries":0`, `"retries":-1`, "content.services[0].retries: "},
		{"too many retries", `"retries":0`, `"retries":6`, "content.services[0].retries: "},
		{"bad exposed", `"attrs":{}`, `"attrs":{"exposed":"yes"}`, "content.services[0].attrs.exposed: "},
		{"partners unexposed", `"attrs":{}`, `"attrs":{"partners":"node-b"}`, "content.services[0].attrs.partners: "},
		{"bad partners", `"attrs":{}`, `"attrs":{"exposed":"true","partners":"a,,b"}`, "content.services[0].attrs.partners: "},
		{"bad balance", `"attrs":{}`, `"attrs":{"balance":"random"}`, "content.services[0].attrs.balance: "},
		{"bad health path", `"attrs":{}`, `"attrs":{"health_path":"ping"}`, "content.services[0].attrs.health_path: "},
		{"bad health interval", `"attrs":{}`, `"attrs":{"health_interval":"soon"}`, "content.services[0].attrs.health_interval: "},
		{"bad health threshold", `"attrs":{}`, `"attrs":{"health_threshold":"0"}`, "content.services[0].attrs.health_threshold: "},
		{"wrong type", `"retries":0`, `"retries":"0"`, "retries"},
		{"attrs not strings", `"attrs":{}`, `"attrs":{"exposed":true}`, "attrs"},
		{"bad timestamp", `"timestamp":300000`, `"timestamp":"soon"`, "timestamp"},
		{"negative timestamp", `"timestamp":300000`, `"timestamp":-1`, "timestamp: "},
		{"expiry in the past", `"timestamp":300000`, `"timestamp":1800000`, "timestamp: the expiry"},
		{"expiry in year 3000", `"timestamp":300000`, `"timestamp":32503680000000`, "timestamp: 32503680000000 ms is more than 24h0m0s ahead"},
		{"expiry beyond time.Time", `"timestamp":300000`, `"timestamp":253402300800000`, "timestamp: "},
		{"expiry past MaxValidity", `"timestamp":300000`, `"timestamp":` + itoa(t0.Add(MaxValidity).UnixMilli()+1), "timestamp: "},
		{"trailing data", `"attrs":{}}]}}`, `"attrs":{}}]}}}`, "after the JSON value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRegistration(mutate(t, c.old, c.new), t0)
			code, msg := ptp.Describe(err)
			if code != ptp.BadRequest || !strings.Contains(msg, c.want) {
				t.Fatalf("got %s %q, want %s containing %q", code, msg, ptp.BadRequest, c.want)
			}
		})
	}
}

// TestParseLimits: more than MaxServices services, or more than MaxBody
// bytes, are refused.
func TestParseLimits(t *testing.T) {
	svcs := strings.Repeat(`{"urn":"/x/*"},`, MaxServices) + `{"urn":"/y"}`
	body := `{"name":"n","kind":"complex","address":"127.0.0.1:1","instance_id":"i","content":{"services":[` + svcs + `]}}`
	if _, err := ParseRegistration([]byte(body), t0); err == nil || !strings.Contains(err.Error(), "content.services: ") {
		t.Fatalf("%d services: %v", MaxServices+1, err)
	}
	big := make([]byte, MaxBody+1)
	if c, _ := ptp.Describe(func() error { _, err := ParseRegistration(big, t0); return err }()); c != ptp.TooLarge {
		t.Fatalf("oversize body: %s", c)
	}
}

// TestExpiry: a timestamp below RelativeLimit is a validity from now, 0 the
// default, above it an absolute expiry (also as a string of digits).
func TestExpiry(t *testing.T) {
	abs := t0.Add(time.Hour).UnixMilli()
	for _, c := range []struct {
		ts   string
		want time.Time
	}{
		{`0`, t0.Add(DefaultValidity)},
		{`null`, t0.Add(DefaultValidity)},
		{`1000`, t0.Add(time.Second)},
		{`"1799999"`, t0.Add(1799999 * time.Millisecond)},
		{itoa(abs), time.UnixMilli(abs)},
		{itoa(t0.Add(MaxValidity).UnixMilli()), t0.Add(MaxValidity)},
		{`"` + itoa(abs) + `"`, time.UnixMilli(abs)},
	} {
		reg, err := ParseRegistration(mutate(t, `"timestamp":300000`, `"timestamp":`+c.ts), t0)
		if err != nil {
			t.Fatalf("timestamp %s: %v", c.ts, err)
		}
		if got, _ := reg.Expiry(t0); !got.Equal(c.want) {
			t.Errorf("timestamp %s: expiry %v, want %v", c.ts, got, c.want)
		}
	}
	if _, err := ParseRegistration(mutate(t, `"timestamp":300000`, `"timestamp":`+itoa(t0.UnixMilli())), t0); err == nil {
		t.Fatal("an expiry of now registered")
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestCleanPaths: the path tricks that would walk out of a prefix are not
// clean: dot segments, also with ";params", backslashes, and (raw)
// percent-encoded "/", "." and "\\" (finding 5).
func TestCleanPaths(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/", "/a/b;v=1/c", "/a/..b", "/a/.x"} {
		if !Clean(p) {
			t.Errorf("Clean(%q) = false", p)
		}
	}
	for _, p := range []string{"", "a", "/a//b", "/a/./b", "/a/../b", "/open/..;/closed", "/open/.;x/closed",
		"/open/;/../closed", "/open/..\\closed", "/open\\x"} {
		if Clean(p) {
			t.Errorf("Clean(%q) = true", p)
		}
	}
	for raw, want := range map[string]bool{"": true, "/a%20b": true, "/a/%2e%2e/b": false, "/a%2Fb": false,
		"/a%5cb": false, "/a%5C": false, "/a%2": true} {
		if got := CleanRaw(raw); got != want {
			t.Errorf("CleanRaw(%q) = %v, want %v", raw, got, want)
		}
	}
}

// TestReservedPaths: the registry's reserved paths are route handler
// plugins' too (one list, host/internal/reserved): the node's endpoints,
// also below them, so the node's gate can refuse a request path a route
// would take; and no registration may name or cover one.
func TestReservedPaths(t *testing.T) {
	for _, p := range []string{"/v1/interconn/chan/push", "/v1/interconn/registry/register", "/stats", "/stats/",
		"/metrics", "/metrics/x", "/healthz", "/healthz/x", "/org.ppc.ptp.PrivateTransferTransport/push",
		"/debug/pprof/heap", "/panel/", "/panel/panel.js"} {
		if !Reserved(p) || !plugin.ReservedPaths(p) {
			t.Errorf("%q: registry reserved %v, plugin reserved %v", p, Reserved(p), plugin.ReservedPaths(p))
		}
	}
	for _, p := range []string{"/", "/v1/", "/v1/other", "/metricsx", "/a/stats"} {
		if Reserved(p) || plugin.ReservedPaths(p) {
			t.Errorf("%q: registry reserved %v, plugin reserved %v", p, Reserved(p), plugin.ReservedPaths(p))
		}
	}
	for _, r := range append(reserved.Roots(), "/metrics", "/debug/pprof/", "/panel/") {
		if _, err := checkURN(r, ProtoHTTP); err == nil {
			t.Errorf("registration of %q accepted", r)
		}
		if _, err := checkURN(r+"/*", ProtoHTTP); err == nil {
			t.Errorf("registration of %q accepted", r+"/*")
		}
	}
	if _, err := checkURN("/*", ProtoHTTP); err == nil {
		t.Error("registration of /* (covering the node's endpoints) accepted")
	}
}

// TestAttrs: the attrs keys set exposure, partners, balance and health.
func TestAttrs(t *testing.T) {
	s := Service{URN: "/p/", Proto: "grpc", Flags: FlagCommunal, Attrs: map[string]string{
		AttrPartners: "node-b, node-c", AttrBalance: BalanceLeastRequest, AttrHealthPath: "/ping",
		AttrHealthInterval: "1500", AttrHealthThreshold: "2", "unknown": "kept"}}
	p, err := s.parse("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	want := HealthCheck{Path: "/ping", Interval: 1500 * time.Millisecond, Threshold: 2}
	if !p.exposed || strings.Join(p.partners, ",") != "node-b,node-c" || p.balance != BalanceLeastRequest || p.health != want || !p.prefix || !p.h2 {
		t.Fatalf("settings %+v", p)
	}
	q, err := Service{URN: "/q", Attrs: map[string]string{AttrExposed: "true", AttrHealthInterval: "2s"}}.parse("127.0.0.1:1")
	if err != nil || !q.exposed || q.health.Interval != 2*time.Second || q.health.Threshold != DefaultHealthThreshold || !q.h2 {
		t.Fatalf("settings %+v %v", q, err)
	}
}
