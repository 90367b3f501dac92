package network

import (
	"bytes"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/pki"
)

// The vectors were computed independently (Python's hashlib and base64 over
// the framing documented in weave_code.go), so they pin the protocol, not
// just this implementation.
var (
	vecRootI  = []byte("root-a DER")
	vecRootR  = []byte("root-b DER")
	vecNonceI = bytes.Repeat([]byte{1}, 32)
)

func TestCommitmentVector(t *testing.T) {
	got := hex.EncodeToString(Commitment("node-a", vecRootI, vecNonceI))
	if want := "162e0467a243614d39c61d4fc5630381d6d46f4ee90116c454cdf5c500f0cce7"; got != want {
		t.Fatalf("commitment %s, want %s", got, want)
	}
}

func TestAuthCodeVectors(t *testing.T) {
	for _, tc := range []struct {
		name         string
		i, r         string
		ri, rr       []byte
		ni, nr, want string
	}{
		{"initiator first", "node-a", "node-b", vecRootI, vecRootR, "01", "02", "V7J3-2DQR-S3ZJ-OZWD"},
		{"roles swapped", "node-b", "node-a", vecRootR, vecRootI, "02", "01", "4WBS-FQJN-SOY3-6REJ"},
		{"another responder nonce", "node-a", "node-b", vecRootI, vecRootR, "01", "03", "VLSF-3QXY-CMLC-YCT5"},
	} {
		got := AuthCode(tc.i, tc.r, tc.ri, tc.rr, nonceOf(tc.ni), nonceOf(tc.nr))
		if got != tc.want {
			t.Errorf("%s: code %s, want %s", tc.name, got, tc.want)
		}
		if len(normCode(got))*5 < 64 {
			t.Errorf("%s: code %s carries under 64 bits", tc.name, got)
		}
	}
}

func nonceOf(b string) []byte {
	v, _ := hex.DecodeString(b)
	return bytes.Repeat(v, 32)
}

func TestSameCode(t *testing.T) {
	for _, tc := range []struct {
		typed, code string
		same        bool
	}{
		{"V7J3-2DQR-S3ZJ-OZWD", "V7J3-2DQR-S3ZJ-OZWD", true},
		{"v7j3 2dqr s3zj ozwd", "V7J3-2DQR-S3ZJ-OZWD", true},
		{"V7J3-2DQR-S3ZJ-OZWE", "V7J3-2DQR-S3ZJ-OZWD", false},
		{"V7J3-2DQR", "V7J3-2DQR-S3ZJ-OZWD", false},
		{"", "", false},
	} {
		if got := sameCode(tc.typed, tc.code); got != tc.same {
			t.Errorf("sameCode(%q, %q) = %v", tc.typed, tc.code, got)
		}
	}
}

func testRoot(t testing.TB) string {
	t.Helper()
	kp, err := pki.NewRoot("node-x")
	if err != nil {
		t.Fatal(err)
	}
	return string(kp.CertPEM)
}

func TestCanonicalRoot(t *testing.T) {
	root := testRoot(t)
	leafKP, _ := pki.NewRoot("other")
	leaf, err := pki.Issue(leafKP, "node-y", nil)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(root))
	headers := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"X": "y"}, Bytes: blk.Bytes}))
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"as issued", root, true},
		{"whitespace around", "\n\t " + root + "\n\n", true},
		{"trailing text", root + "fresh bytes for a collision search", false},
		{"a second block", root + root, false},
		{"leading text", "Certificate:\n" + root, false},
		{"PEM headers", headers, false},
		{"not a CA", string(leaf.CertPEM), false},
		{"too big", root + strings.Repeat(" ", maxRoot), false},
		{"empty", "", false},
		{"a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", false},
	} {
		got, der, err := canonicalRoot(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
			continue
		}
		if tc.ok && (got != root || !bytes.Equal(der, blk.Bytes)) {
			t.Errorf("%s: not canonical: %q", tc.name, got)
		}
	}
}

func FuzzCanonicalRoot(f *testing.F) {
	root := testRoot(f)
	for _, s := range []string{root, root + "x", " " + root, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, der, err := canonicalRoot(s)
		if err != nil {
			return
		}
		// Canonical means a fixed point: the re-encoding reads back to itself.
		again, der2, err := canonicalRoot(got)
		if err != nil || again != got || !bytes.Equal(der, der2) {
			t.Fatalf("%q: canonical form %q is not stable (%v)", s, got, err)
		}
	})
}

func FuzzCheckHello(f *testing.F) {
	root := testRoot(f)
	commit := strings.Repeat("ab", 32)
	f.Add("node-a", "inst-a", "Institution A", root, "127.0.0.1:7304", "node-b", commit)
	f.Add("node-a", "", "\x1b[31mred", root, "127.0.0.1:1\nX-Injected: 1", "", commit)
	f.Add("node-a", "", "", root+"tail", "http://127.0.0.1:1", "", "zz")
	f.Fuzz(func(t *testing.T, id, inst, name, rootCrt, addr, target, commit string) {
		h := Hello{NodeID: id, InstID: inst, InstName: name, RootCrt: rootCrt, Address: addr, Target: target, Commit: commit}
		got, c, err := checkHello(h, "node-b")
		if err != nil {
			return
		}
		if len(c) != nonceSize || got == "" {
			t.Fatalf("accepted %+v with commit %x, root %q", h, c, got)
		}
		for _, s := range []string{name, addr} {
			if strings.ContainsAny(s, "\x00\n\r\x1b") {
				t.Fatalf("accepted a control character in %q", s)
			}
		}
		if a, _ := ParseAddress(addr); addr != "" && !a.TLS {
			t.Fatalf("accepted a plaintext address %q", addr)
		}
	})
}

func TestCheckHello(t *testing.T) {
	root := testRoot(t)
	good := Hello{NodeID: "node-a", InstID: "inst-a", InstName: "Institution A", RootCrt: root, Address: "127.0.0.1:7304",
		Target: "node-b", Commit: strings.Repeat("ab", 32)}
	if _, _, err := checkHello(good, "node-b"); err != nil {
		t.Fatalf("a good hello: %v", err)
	}
	for name, change := range map[string]func(*Hello){
		"newline in address": func(h *Hello) { h.Address = "127.0.0.1:1\nX: y" },
		"ESC in address":     func(h *Hello) { h.Address = "\x1b[2J127.0.0.1:1" },
		"plaintext address":  func(h *Hello) { h.Address = "http://127.0.0.1:1" },
		"huge inst_name":     func(h *Hello) { h.InstName = strings.Repeat("A", 200<<10) },
		"ESC in inst_name":   func(h *Hello) { h.InstName = "\x1b[31mBank" },
		"bad inst_id":        func(h *Hello) { h.InstID = "inst a" },
		"bad node_id":        func(h *Hello) { h.NodeID = "../node" },
		"this node":          func(h *Hello) { h.NodeID = "node-b" },
		"another target":     func(h *Hello) { h.Target = "node-c" },
		"trailing PEM text":  func(h *Hello) { h.RootCrt = root + "junk" },
		"no commitment":      func(h *Hello) { h.Commit = "" },
		"short commitment":   func(h *Hello) { h.Commit = "abcd" },
	} {
		h := good
		change(&h)
		if _, _, err := checkHello(h, "node-b"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestHelloLimiter(t *testing.T) {
	l := newHelloLimiter(HelloLimits{})
	now := time.Now()
	allowed := 0
	for range 255 {
		if l.allow("127.0.0.2", now) {
			allowed++
		}
	}
	if allowed != l.lim.PerIPBurst {
		t.Fatalf("one source got %d of 255 hellos through, want its burst of %d", allowed, l.lim.PerIPBurst)
	}
	if !l.allow("127.0.0.1", now) {
		t.Fatal("a flood from one source locked out another")
	}
	if !l.allow("127.0.0.2", now.Add(time.Duration(float64(time.Second)/l.lim.PerIPRate))) {
		t.Fatal("the flooding source never refills")
	}
	for i := range l.lim.Sources * 2 {
		l.allow("10.0.0."+string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i >> 8), byte(i)}), now.Add(time.Hour))
	}
	if len(l.sources) > l.lim.Sources {
		t.Fatalf("%d sources tracked, want at most %d", len(l.sources), l.lim.Sources)
	}
}

func TestAwaiting(t *testing.T) {
	for _, tc := range []struct {
		r    Route
		want string
	}{
		{Route{State: StatePending}, AwaitingReveal},
		{Route{State: StatePending, Code: "C"}, AwaitingBoth},
		{Route{State: StatePending, Code: "C", PartnerAcked: true}, AwaitingUs},
		{Route{State: StatePending, Code: "C", Acked: true}, AwaitingPartner},
		{Route{State: StateWoven, Code: "C", Acked: true, PartnerAcked: true}, ""},
	} {
		if got := tc.r.awaiting(); got != tc.want {
			t.Errorf("%+v: awaiting %q, want %q", tc.r, got, tc.want)
		}
	}
	r := Route{State: StatePending, Code: "C", Acked: true, PartnerAcked: true}
	r.settle()
	if r.State != StateWoven {
		t.Fatalf("both confirmed: %s", r.State)
	}
	r = Route{State: StatePending, Code: "C", Acked: true}
	r.settle()
	if r.State != StatePending {
		t.Fatalf("one side confirmed: %s", r.State)
	}
}
