package ptp

import (
	"regexp"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestCodeTable(t *testing.T) {
	format := regexp.MustCompile(`^E0000000\d{3}$`)
	if len(Codes()) != 23 {
		t.Fatalf("%d codes, want the 23 of PTP/1.0", len(Codes()))
	}
	for _, c := range Codes() {
		if !format.MatchString(string(c)) || c.Message() == "" || c.HTTP() < 200 || c.HTTP() > 599 {
			t.Errorf("bad row for %s", c)
		}
		if (c == OK) != (c.GRPC() == codes.OK) || (c == OK) != (c.HTTP() == 200) {
			t.Errorf("%s: only OK may map to success", c)
		}
	}
	if Code("E0000000999").HTTP() != 500 {
		t.Error("unknown codes must map to system error")
	}
}
