package host_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// raceCluster starts a three-server NATS cluster on loopback, as an
// operator's external NATS, and returns its client URLs.
func raceCluster(t *testing.T) []string {
	t.Helper()
	var (
		srvs []*server.Server
		seed *url.URL
	)
	for i := range 3 {
		o := &server.Options{ServerName: fmt.Sprintf("race-%d", i), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "race", Host: "127.0.0.1", Port: server.RANDOM_PORT}}
		if seed != nil {
			o.Routes = []*url.URL{seed}
		} else {
			// JetStream refuses a clustered server without routes, and the
			// seed's peers have no port yet: a route that is refused on
			// loopback stands in, and the peers route to the seed.
			o.Routes = []*url.URL{{Scheme: "nats-route", Host: "127.0.0.1:1"}}
		}
		srv, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Start()
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
		srvs = append(srvs, srv)
		if seed == nil {
			// The others need the seed's route port.
			meshtest.WaitFor(t, 20*time.Second, "the seed's route port", func() bool { return srv.ClusterAddr() != nil })
			seed = &url.URL{Scheme: "nats-route", Host: srv.ClusterAddr().String()}
		}
	}
	var urls []string
	for _, srv := range srvs {
		if !srv.ReadyForConnections(30 * time.Second) {
			t.Fatal("nats server not ready")
		}
		urls = append(urls, srv.ClientURL())
	}
	return urls
}

// TestRefreshRacingAnotherReplicaRetries: two replicas of one node on a
// replicated store (where a lost compare-and-swap is KV error 10164, not
// 10071) refresh the identity at the same time, many times over. Every
// refresh answers 200 — the loser retries from the winner's identity — and
// both replicas end on one of the written identities.
func TestRefreshRacingAnotherReplicaRetries(t *testing.T) {
	urls := strings.Join(raceCluster(t), ",")
	var reps []*meshtest.Node
	for i := range 2 {
		reps = append(reps, meshtest.Start(t, host.Config{NATSURL: urls, Replicas: 3, Name: fmt.Sprintf("replica-%d", i)}))
	}
	reps[0].Identify(t, "racer", "inst")
	meshtest.WaitFor(t, 20*time.Second, "the second replica to see the identity", func() bool {
		return currentID(t, reps[1]) == "racer"
	})
	const writers, rounds = 4, 6
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written []string
		failed  []string
	)
	for r, rep := range reps {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					name := fmt.Sprintf("w-%d-%d-%d", r, w, i)
					reply := meshtest.Post(t, rep.URL, "/v1/interconn/node/refresh", nil,
						map[string]string{"node_id": "racer", "inst_id": "inst", "inst_name": name})
					mu.Lock()
					written = append(written, name)
					if reply.Code != ptp.OK {
						failed = append(failed, fmt.Sprintf("%s: %d %s", name, reply.Status, reply.Body))
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d racing refreshes failed, first: %s", len(failed), len(written), failed[0])
	}
	var final []string
	meshtest.WaitFor(t, 20*time.Second, "both replicas to agree", func() bool {
		final = final[:0]
		for _, rep := range reps {
			var id struct {
				InstName string `json:"inst_name"`
			}
			meshtest.Get(t, rep.URL+"/v1/interconn/node").Decode(t, &id)
			final = append(final, id.InstName)
		}
		return final[0] == final[1]
	})
	if !slices.Contains(written, final[0]) {
		t.Fatalf("final identity %q is none of the writes", final[0])
	}
}
