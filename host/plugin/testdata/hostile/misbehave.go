// Package hostile holds the misbehaviours the hostile test plugins share.
// The plugins themselves are the main packages codec and auth.
package hostile

import (
	"strconv"
	"time"
	"unsafe"
)

// spins counts the iterations of Loop, so the loop has a body.
var spins uint64

// Loop spins forever in a tight loop that makes no calls.
func Loop() {
	for {
		spins++
	}
}

// Trap panics; in a wasip1 reactor the Go runtime prints the panic to
// stderr and aborts: the host sees a WebAssembly trap ("unreachable").
func Trap() { panic("hostile: trap") }

// OOB loads from far outside linear memory: a WebAssembly trap
// ("out of bounds memory access") rather than a Go panic.
func OOB() byte {
	var b byte
	return *(*byte)(unsafe.Add(unsafe.Pointer(&b), 0x7fff0000))
}

// hoard keeps Bomb's allocations alive.
var hoard [][]byte

// Bomb allocates 16 MiB blocks, touching every page, until the memory
// limit stops it: the Go runtime prints "fatal error: out of memory" and
// aborts with an "unreachable" trap.
func Bomb() {
	for {
		b := make([]byte, 16<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hoard = append(hoard, b)
	}
}

// Sleep sleeps for delayMs milliseconds (default 1000). It needs a host
// that gives the module a real nanosleep; with wazero's default it returns
// at once.
func Sleep(delayMs string) {
	ms, err := strconv.Atoi(delayMs)
	if err != nil || ms <= 0 {
		ms = 1000
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
}
