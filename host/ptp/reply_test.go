package ptp

import (
	"errors"
	"testing"
)

// TestReply: the one reply envelope parses what nodes send, refuses what is
// not a PTP reply, and turns failure codes into *Error.
func TestReply(t *testing.T) {
	for _, c := range []struct {
		name, in string
		code     Code
		content  string
		parseErr bool
	}{
		{"ok with content", `{"code":"E0000000000","message":"ok","content":{"a":1}}`, OK, `{"a":1}`, false},
		{"failure", `{"code":"E0000000403","message":"control endpoints answer loopback callers"}`, Unauthorized, "", false},
		{"extra fields", `{"code":"E0000000000","message":"","content":"aGk=","payload":"aGk=","metadata":{}}`, OK, `"aGk="`, false},
		{"no code", `{"message":"hi"}`, "", "", true},
		{"not json", `<html>`, "", "", true},
		{"empty", ``, "", "", true},
	} {
		r, err := ParseReply([]byte(c.in))
		if (err != nil) != c.parseErr || r.Code != c.code || string(r.Content) != c.content {
			t.Errorf("%s: got %+v, %v", c.name, r, err)
		}
	}
}

func TestReplyErr(t *testing.T) {
	if err := (Reply{Code: OK, Message: "ok"}).Err(); err != nil {
		t.Fatalf("ok reply: %v", err)
	}
	err := Reply{Code: NotWoven, Message: "partner b is not woven"}.Err()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != NotWoven || err.Error() != "E0000000618: partner b is not woven" {
		t.Fatalf("failure reply: %v", err)
	}
	if got := (Reply{Code: NotFound}).Err().Error(); got != "E0000000404: "+NotFound.Message() {
		t.Fatalf("failure without message: %q", got)
	}
}

func TestReplyDecode(t *testing.T) {
	var v struct{ A int }
	if err := (Reply{Code: OK, Content: []byte(`{"A":7}`)}).Decode(&v); err != nil || v.A != 7 {
		t.Fatalf("decode: %v %+v", err, v)
	}
	if err := (Reply{Code: OK}).Decode(&v); err != nil || v.A != 7 {
		t.Fatalf("absent content changed v or failed: %v %+v", err, v)
	}
	if err := (Reply{Code: OK, Content: []byte(`"x"`)}).Decode(&v); err == nil {
		t.Fatal("content of the wrong shape decoded")
	}
}
