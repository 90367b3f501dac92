package api

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// TestMetadataSizeIsAsStored: CheckMetadata measures metadata as the queue
// stores it (encoding/json, with its escapes of " \ < > &), exactly: the
// bound holds on what reaches the NATS header, not on an estimate.
func TestMetadataSizeIsAsStored(t *testing.T) {
	const alphabet = `ab"\<>& ~`
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		md := map[string]string{}
		for range 1 + rng.IntN(4) {
			var v strings.Builder
			for range rng.IntN(3000) {
				v.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
			md[string(rune('a'+rng.IntN(26)))+"-k"] = v.String()
		}
		stored, _ := json.Marshal(md)
		err := queue.CheckMetadata(md)
		if (len(stored) > queue.MaxMetadataBytes) != (err != nil) {
			t.Fatalf("%d bytes stored, check says %v", len(stored), err)
		}
	}
}

// TestPayloadPresence: a JSON push must name its payload; "" is an empty
// message, under either name, and other methods need none.
func TestPayloadPresence(t *testing.T) {
	for body, want := range map[string]ptp.Code{
		`{"topic":"t"}`:                  ptp.BadRequest,
		`{"topic":"t","payload":null}`:   ptp.BadRequest,
		` `:                              ptp.BadRequest,
		`{"topic":"t","payload":""}`:     ptp.OK,
		`{"topic":"t","content":""}`:     ptp.OK,
		`{"topic":"t","payload":"aGk="}`: ptp.OK,
	} {
		r, err := decodeJSON(ptp.Push, []byte(body))
		if c, _ := ptp.Describe(err); c != want {
			t.Errorf("push %s: %v, want %s", body, err, want)
		}
		if want == ptp.OK && r.Payload == nil {
			t.Errorf("push %s: nil payload, want a non-nil one", body)
		}
	}
	if _, err := decodeJSON(ptp.Pop, []byte(`{"topic":"t"}`)); err != nil {
		t.Errorf("pop: %v", err)
	}
	// The older Mesh's envelope omits an empty payload (omitempty): that is
	// its 0-byte message, kept as one.
	inner, _ := json.Marshal(map[string]string{"topic": "t"})
	env, _ := json.Marshal(map[string]any{"metadata": map[string]string{}, "payload": inner})
	if r, err := decodeEnvelope(env); err != nil || r.Payload == nil || len(r.Payload) != 0 {
		t.Errorf("envelope without payload: %q %v", r.Payload, err)
	}
}

// TestEncodedLimitFitsTheLargestPayload: a JSON body with a payload of
// exactly max bytes and the largest metadata fits encodedLimit(max).
func TestEncodedLimitFitsTheLargestPayload(t *testing.T) {
	for _, max := range []int64{0, 1, 2, 3, 1024, 1<<20 + 1} {
		md := map[string]string{"k": strings.Repeat("v", queue.MaxMetadataBytes-10)}
		body, _ := json.Marshal(map[string]any{"topic": strings.Repeat("t", queue.MaxIDBytes), "payload": make([]byte, max), "metadata": md})
		if int64(len(body)) > encodedLimit(max) {
			t.Errorf("max %d: body of %d bytes over the limit %d", max, len(body), encodedLimit(max))
		}
	}
}

// TestStrictJSON: unknown fields and anything after the value are refused;
// whitespace after it is not.
func TestStrictJSON(t *testing.T) {
	var v struct {
		A string `json:"a"`
	}
	for body, ok := range map[string]bool{
		`{"a":"x"}`: true, "{\"a\":\"x\"}\n ": true, `{"a":"x","b":1}`: false,
		`{"a":"x"} {}`: false, `{"a":"x"}}`: false, `{"a":"x"}x`: false,
	} {
		if err := strictJSON([]byte(body), &v); (err == nil) != ok {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// TestPoppedEmptyMessageShowsAsOne: a popped 0-byte message answers with
// an empty, present content and its id, whatever the queue hands back for
// 0 bytes; a pop that timed out answers with neither.
func TestPoppedEmptyMessageShowsAsOne(t *testing.T) {
	msg := string(replyJSON(found(&queue.Message{ID: "m1"}, nil)))
	if !strings.Contains(msg, `"content":""`) || !strings.Contains(msg, `"payload":""`) || !strings.Contains(msg, `"m1"`) {
		t.Fatalf("0-byte message: %s", msg)
	}
	if none := string(replyJSON(found(nil, nil))); strings.Contains(none, "content") || strings.Contains(none, "metadata") {
		t.Fatalf("timed-out pop: %s", none)
	}
}
