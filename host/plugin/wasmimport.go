package plugin

import (
	"errors"
	"fmt"
)

// errBadModule is a module whose sections cannot be read.
var errBadModule = errors.New("cannot read the module's sections")

// renameImport returns a copy of wasm in which the import module.name
// comes from newModule instead. newModule must be as long as module, so the
// name is overwritten in place and no size changes. found is false when
// wasm has no such import (the copy is then unchanged).
func renameImport(wasm []byte, module, name, newModule string) (out []byte, found bool, err error) {
	if len(newModule) != len(module) {
		return nil, false, fmt.Errorf("import module %q and %q differ in length", module, newModule)
	}
	out = append([]byte(nil), wasm...)
	if len(out) < 8 {
		return nil, false, errBadModule
	}
	r := &wasmReader{b: out, at: 8}
	for r.at < len(r.b) {
		id, size := r.byte(), int(r.u32())
		end := r.at + size
		if r.err != nil || size < 0 || end > len(r.b) {
			return nil, false, errBadModule
		}
		if id == 2 { // the import section
			found, err = patchImports(&wasmReader{b: r.b[:end], at: r.at}, module, name, newModule)
			return out, found, err
		}
		r.at = end
	}
	return out, false, nil
}

// patchImports walks an import section, overwriting the module name of
// module.name.
func patchImports(r *wasmReader, module, name, newModule string) (bool, error) {
	found := false
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		mod, modAt := r.name()
		field, _ := r.name()
		if r.err == nil && mod == module && field == name {
			copy(r.b[modAt:], newModule)
			found = true
		}
		r.skipImportDesc()
	}
	if r.err != nil {
		return false, errBadModule
	}
	return found, nil
}

// wasmReader reads the parts of a WebAssembly binary renameImport needs.
type wasmReader struct {
	b   []byte
	at  int
	err error
}

func (r *wasmReader) byte() byte {
	if r.err != nil || r.at >= len(r.b) {
		r.err = errBadModule
		return 0
	}
	c := r.b[r.at]
	r.at++
	return c
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errBadModule
	return 0
}

// u64 skips an unsigned LEB128 of at most 10 bytes.
func (r *wasmReader) u64() {
	for range 10 {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.err = errBadModule
}

// name reads a name and says where its bytes start.
func (r *wasmReader) name() (string, int) {
	n := int(r.u32())
	if r.err != nil || n > len(r.b)-r.at {
		r.err = errBadModule
		return "", 0
	}
	at := r.at
	r.at += n
	return string(r.b[at:r.at]), at
}

// skipImportDesc skips what an import imports: a function, table, memory,
// global or tag.
func (r *wasmReader) skipImportDesc() {
	switch r.byte() {
	case 0x00: // function: type index
		r.u32()
	case 0x01: // table: reference type, limits
		r.byte()
		r.limits()
	case 0x02: // memory: limits
		r.limits()
	case 0x03: // global: value type, mutability
		r.byte()
		r.byte()
	case 0x04: // tag: attribute, type index
		r.byte()
		r.u32()
	default:
		r.err = errBadModule
	}
}

// limits skips limits: flags, min, and max when flags say so (64-bit
// memories take 64-bit bounds).
func (r *wasmReader) limits() {
	flags := r.byte()
	r.u64()
	if flags&1 != 0 {
		r.u64()
	}
}
