package host_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// regGuide is the PTP guide's registration (issue 15) with real
// addresses, as package registry's tests read it.
func regGuide(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("registry/testdata/guide.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRegistryEndpoints: the guide's JSON registers through the node's
// API and is listed with each instance's route and health; unregister
// takes {name, instance_id} or the whole registration (the older Mesh's
// clients send it), and a second one answers 404.
func TestRegistryEndpoints(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	apiGuide := regGuide(t)
	r := meshtest.Post(t, n.URL, "/v1/interconn/registry/register", nil, apiGuide)
	var st registry.Stored
	r.Decode(t, &st)
	if r.Code != ptp.OK || st.Name != "tensorserving" || st.Expires.IsZero() {
		t.Fatalf("register: %s", r.Body)
	}
	var ls []registry.Listed
	meshtest.Get(t, n.URL+"/v1/interconn/registry").Decode(t, &ls)
	if len(ls) != 1 || len(ls[0].Instances) != 2 {
		t.Fatalf("list: %+v", ls)
	}
	in := ls[0].Instances
	if in[0].Route != "http /a/b/c" || in[0].Address != "127.0.0.1:8501" || in[1].Route != "grpc /a/b/c" || in[1].Address != "127.0.0.1:8502" {
		t.Fatalf("instances %+v", in)
	}
	if r := meshtest.Post(t, n.URL, "/v1/interconn/registry/unregister", nil, apiGuide); r.Code != ptp.OK {
		t.Fatalf("unregister with the whole registration: %s", r.Body)
	}
	meshtest.Get(t, n.URL+"/v1/interconn/registry").Decode(t, &ls)
	if len(ls) != 0 {
		t.Fatalf("listed after unregister: %+v", ls)
	}
	body := `{"name":"tensorserving","instance_id":"127.0.0.1:8500"}`
	if r := meshtest.Post(t, n.URL, "/v1/interconn/registry/unregister", nil, body); r.Code != ptp.NotFound {
		t.Fatalf("unregister twice: %s", r.Body)
	}
	if r := meshtest.Post(t, n.URL, "/v1/interconn/registry/unregister", nil, `{"name":"x","instanceid":"y"}`); r.Code != ptp.BadRequest {
		t.Fatalf("unregister with a misspelt field: %s", r.Body)
	}
}

// TestRegistryRefusals: bad registrations answer 400 naming the field
// (and an oversize body 413) over HTTP, and nothing is stored.
func TestRegistryRefusals(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	apiGuide := regGuide(t)
	for _, c := range []struct{ old, new, want string }{
		{`"instance_id":"127.0.0.1:8500",`, ``, "instance_id: required"},
		{`"urn":"/a/b/c"`, `"urn":"/v1/interconn/chan/push"`, "content.services[0].urn: "},
		{`"urn":"/a/b/c","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc"`,
			`"urn":"/org.ppc.ptp.PrivateTransferTransport/","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc"`, "content.services[1].urn: "},
		{`"address":"127.0.0.1:8501"`, `"address":"127.0.0.1"`, "content.services[0].address: "},
		{`"timestamp":300000`, `"timestamp":1800000`, "timestamp: "},
	} {
		r := meshtest.Post(t, n.URL, "/v1/interconn/registry/register", nil, strings.Replace(apiGuide, c.old, c.new, 1))
		if r.Code != ptp.BadRequest || r.Status != 400 || !strings.Contains(r.Message, c.want) {
			t.Errorf("%s → %s: %d %s", c.old, c.new, r.Status, r.Body)
		}
	}
	big := `{"name":"` + strings.Repeat("n", registry.MaxBody) + `"}`
	if r := meshtest.Post(t, n.URL, "/v1/interconn/registry/register", nil, big); r.Code != ptp.TooLarge {
		t.Errorf("oversize body: %s", r.Body)
	}
	var ls []registry.Listed
	meshtest.Get(t, n.URL+"/v1/interconn/registry").Decode(t, &ls)
	if len(ls) != 0 {
		t.Fatalf("stored after refusals: %+v", ls)
	}
}
