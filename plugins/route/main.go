// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o route.wasm .

// Command route is Mesh's configurable route handler: config "routes" is
// a list of rules, the first matching rule's action answers the request,
// and an unmatched request goes back to the node (action next).
//
// Rules are separated by ";" or newlines; each is MATCH=ACTION:
//
//	MATCH  = [METHOD] PATH [HEADER:VALUE ...]   (separated by spaces)
//	ACTION = respond:STATUS[:BODY] | forward:TARGET | next
//
// PATH matches exactly, or as a prefix when it ends in "/" or "*" (the "*"
// is dropped). HEADER:VALUE requires a request header (any case) to equal
// VALUE. BODY may contain ":" and "=", "\n" for a newline, "\;" for a
// semicolon, and {method}, {path} and {query}, replaced by the request's.
// For example:
//
//	/hello=respond:200:Hello from mesh;/api/=forward:http://127.0.0.1:9000;GET /v1/x x-env:test=next
package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ppcmesh/mesh/sdk/plugin/go/pdk"
	"github.com/ppcmesh/mesh/sdk/plugin/go/route"
)

// rule is one parsed rule.
type rule struct {
	method  string            // "" matches any
	path    string            // exact path, or prefix when prefix
	prefix  bool              // path is a prefix
	headers map[string]string // lower-case name → required value
	action  route.Response    // what to answer
}

// The configuration, parsed on the first call of an instance.
var (
	rules   []rule
	loaded  bool
	loadErr error
)

func init() { route.Register(handle) }

// handle answers r with the first matching rule's action, else next.
func handle(r route.Request) (route.Response, error) {
	if !loaded {
		cfg, _ := pdk.Config("routes")
		rules, loadErr = parse(cfg)
		loaded = true
	}
	if loadErr != nil {
		return route.Response{}, loadErr
	}
	return answer(rules, r), nil
}

// answer is the first of rs matching r's action, else next.
func answer(rs []rule, r route.Request) route.Response {
	for _, ru := range rs {
		if ru.matches(r) {
			return ru.answer(r)
		}
	}
	return route.Next()
}

// matches reports whether r is for ru.
func (ru rule) matches(r route.Request) bool {
	if ru.method != "" && !strings.EqualFold(ru.method, r.Method) {
		return false
	}
	if ru.prefix && !strings.HasPrefix(r.Path, ru.path) || !ru.prefix && r.Path != ru.path {
		return false
	}
	for name, v := range ru.headers {
		if r.Headers[name] != v {
			return false
		}
	}
	return true
}

// answer is ru's action for r, with the body's placeholders filled.
func (ru rule) answer(r route.Request) route.Response {
	a := ru.action
	if a.Action == route.ActionRespond && len(a.Body) > 0 {
		a.Body = []byte(strings.NewReplacer("{method}", r.Method, "{path}", r.Path, "{query}", r.Query).Replace(string(a.Body)))
	}
	return a
}

// parse parses the routes setting.
func parse(cfg string) ([]rule, error) {
	if strings.TrimSpace(cfg) == "" {
		return nil, errors.New("route: config routes is empty: give rules such as /hello=respond:200:Hello")
	}
	var rs []rule
	for i, text := range splitRules(cfg) {
		if text = strings.TrimSpace(text); text == "" {
			continue
		}
		ru, err := parseRule(text)
		if err != nil {
			return nil, fmt.Errorf("route: rule %d (%q): %w", i+1, text, err)
		}
		rs = append(rs, ru)
	}
	return rs, nil
}

// splitRules splits at ";" and newlines, keeping "\;" as a literal ";".
func splitRules(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == ';':
			b.WriteByte(';')
			i++
		case s[i] == ';' || s[i] == '\n':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}

// parseRule parses MATCH=ACTION.
func parseRule(text string) (rule, error) {
	match, action, ok := strings.Cut(text, "=")
	if !ok {
		return rule{}, errors.New("want MATCH=ACTION")
	}
	ru, err := parseMatch(match)
	if err != nil {
		return rule{}, err
	}
	ru.action, err = parseAction(strings.TrimSpace(action))
	return ru, err
}

// parseMatch parses [METHOD] PATH [HEADER:VALUE ...].
func parseMatch(match string) (rule, error) {
	var ru rule
	for _, f := range strings.Fields(match) {
		switch {
		case strings.HasPrefix(f, "/"):
			if ru.path != "" {
				return rule{}, errors.New("two paths")
			}
			ru.path, ru.prefix = strings.TrimSuffix(f, "*"), strings.HasSuffix(f, "/") || strings.HasSuffix(f, "*")
		case strings.Contains(f, ":"):
			name, v, _ := strings.Cut(f, ":")
			if ru.headers == nil {
				ru.headers = map[string]string{}
			}
			ru.headers[strings.ToLower(name)] = v
		case ru.method == "" && ru.path == "":
			ru.method = strings.ToUpper(f)
		default:
			return rule{}, fmt.Errorf("unexpected %q: want [METHOD] PATH [HEADER:VALUE ...]", f)
		}
	}
	if ru.path == "" {
		return rule{}, errors.New("no path (paths start with /)")
	}
	return ru, nil
}

// parseAction parses respond:STATUS[:BODY], forward:TARGET or next.
func parseAction(a string) (route.Response, error) {
	kind, rest, _ := strings.Cut(a, ":")
	switch kind {
	case route.ActionNext:
		return route.Next(), nil
	case route.ActionForward:
		if rest == "" {
			return route.Response{}, errors.New("forward needs a target: forward:http://host:port or forward:node:<id>")
		}
		return route.Forward(rest), nil
	case route.ActionRespond:
		code, body, _ := strings.Cut(rest, ":")
		status, err := strconv.Atoi(code)
		if err != nil || status < 100 || status > 599 {
			return route.Response{}, fmt.Errorf("respond needs a status 100-599, got %q", code)
		}
		resp := route.Respond(status, strings.ReplaceAll(body, `\n`, "\n"))
		resp.Headers = map[string]string{"content-type": "text/plain; charset=utf-8"}
		return resp, nil
	}
	return route.Response{}, fmt.Errorf("unknown action %q: want respond:STATUS[:BODY], forward:TARGET or next", kind)
}

// main is never run in a reactor; the package must still have one.
func main() {}
