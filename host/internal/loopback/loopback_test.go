package loopback

import "testing"

func TestIs(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.1:7304", true},
		{"127.9.8.7:1", true},
		{"::1", true},
		{"[::1]:7304", true},
		{"localhost", true},
		{"localhost:7304", true},
		{"10.0.0.1", false},
		{"10.0.0.1:7304", false},
		{"[::ffff:10.0.0.1]:1", false},
		{"0.0.0.0:7304", false},
		{"example.com:7304", false},
		{"localhost.example.com", false},
		{"", false},
		{":7304", false},
	} {
		if got := Is(c.addr); got != c.want {
			t.Errorf("Is(%q) = %v, want %v", c.addr, got, c.want)
		}
	}
}
