package registry

import (
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/ptp"
)

// FuzzParseRegistration: any body is either a registration whose every
// service parses, with a clean urn outside the node's own endpoints, or a
// BadRequest/TooLarge — never a panic.
func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(guide))
	f.Add([]byte(`{"name":"n","kind":"complex","address":"127.0.0.1:1","instance_id":"i","timestamp":"5000","content":{"services":[{"urn":"/a/*","attrs":{"exposed":"true","partners":"b"}}]}}`))
	f.Add([]byte(`{"name":"n","kind":"complex","address":"[::1]:1","instance_id":"i","content":{"services":[{"urn":"/pkg.S/","proto":"grpc","flags":4}]}}`))
	f.Add([]byte(`{"content":{"services":[{"urn":"/v1/interconn/chan/push"}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, err := ParseRegistration(body, t0)
		if err != nil {
			if c, _ := ptp.Describe(err); c != ptp.BadRequest && c != ptp.TooLarge {
				t.Fatalf("refused with %s: %v", c, err)
			}
			return
		}
		for i, s := range reg.Content.Services {
			p, err := s.parse(reg.Address)
			if err != nil {
				t.Fatalf("accepted service %d does not parse: %v", i, err)
			}
			base := strings.TrimSuffix(p.urn, "*")
			if !Clean(base) || Reserved(base) {
				t.Fatalf("accepted urn %q", p.urn)
			}
		}
	})
}
