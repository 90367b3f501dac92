// Package event is the one format of the core-NATS events replicas send
// each other (subjects in package names): the subject says what happened
// and to what, the data is "<origin> <n>" — the sending replica's origin id
// and a count — so that a replica can skip its own events, having acted on
// them already.
package event

import (
	"strconv"
	"strings"
)

// Encode is the data of an event from origin with count n.
func Encode(origin string, n int64) []byte {
	return strconv.AppendInt(append([]byte(origin), ' '), n, 10)
}

// Decode reads the data of an event. ok is false when it is not of the
// format; n is 0 when the count is missing or not a number.
func Decode(data []byte) (origin string, n int64, ok bool) {
	origin, num, ok := strings.Cut(string(data), " ")
	if !ok || origin == "" {
		return "", 0, false
	}
	n, _ = strconv.ParseInt(num, 10, 64)
	return origin, n, true
}
