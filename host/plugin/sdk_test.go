package plugin

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"testing"
)

// TestSDKShapesMatchWire keeps the Go SDK's copies of the JSON documents
// (it may not import the host) field for field with wire.go.
func TestSDKShapesMatchWire(t *testing.T) {
	for _, tc := range []struct {
		file, sdkType string
		host          any
	}{
		{"../../sdk/plugin/go/auth/auth.go", "Request", AuthRequest{}},
		{"../../sdk/plugin/go/auth/auth.go", "Decision", AuthDecision{}},
		{"../../sdk/plugin/go/route/route.go", "Request", RouteRequest{}},
		{"../../sdk/plugin/go/route/route.go", "Response", RouteResponse{}},
	} {
		got := sdkTags(t, tc.file, tc.sdkType)
		var want []string
		rt := reflect.TypeOf(tc.host)
		for i := range rt.NumField() {
			want = append(want, rt.Field(i).Name+" "+rt.Field(i).Tag.Get("json"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s %s has fields %q; wire.go's %s has %q", tc.file, tc.sdkType, got, rt.Name(), want)
		}
	}
}

// sdkTags lists "Field jsontag" of struct name in file, in order.
func sdkTags(t *testing.T, file, name string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != name {
			return true
		}
		for _, fld := range ts.Type.(*ast.StructType).Fields.List {
			tag := ""
			if fld.Tag != nil {
				tag = reflect.StructTag(fld.Tag.Value[1 : len(fld.Tag.Value)-1]).Get("json")
			}
			for _, id := range fld.Names {
				out = append(out, id.Name+" "+tag)
			}
		}
		return false
	})
	if out == nil {
		t.Fatalf("%s: no struct %s", file, name)
	}
	return out
}
