package msb

/*
// Where libmsb comes from:
//  - by default, the build tree of this repository (../../include and
//    ../../build/lib, after `make`), with an rpath so that tests and
//    programs run without LD_LIBRARY_PATH;
//  - with `-tags msb_pkgconfig`, an installed libmsb found by pkg-config
//    (msb.pc, from `make install`; set PKG_CONFIG_PATH for a custom prefix).
#cgo !msb_pkgconfig CFLAGS: -I${SRCDIR}/../../include
#cgo !msb_pkgconfig LDFLAGS: -L${SRCDIR}/../../build/lib -lmsb -Wl,-rpath,${SRCDIR}/../../build/lib
#cgo msb_pkgconfig pkg-config: msb
#cgo CFLAGS: -O2
#include "shim.h"
*/
import "C"

import (
	"runtime/cgo"
	"syscall"
	"unsafe"
)

// cerr receives a copy of libmsb's thread-local error, taken inside the same
// C call as the failure (see shim.h), so it is always the failing thread's.
type cerr = C.msbgo_err

// toError turns a failed call's code and copied error into a Go error, and
// releases the copy. op names the Go-level operation for the message.
func toError(rc C.int, e *cerr, op string) error {
	if rc == 0 {
		return nil
	}
	err := &Error{
		Op:    op,
		Code:  ErrorCode(e.code),
		Errno: syscall.Errno(e.os_errno),
	}
	if err.Code == 0 {
		err.Code = ErrorCode(rc)
	}
	if e.message != nil {
		err.Message = C.GoString(e.message)
	}
	if e.hint != nil {
		err.Hint = C.GoString(e.hint)
	}
	if err.Message == "" {
		err.Message = err.Code.String()
	}
	C.msbgo_err_free(e)
	return err
}

// arena is one C allocation holding the strings and string arrays of one
// call's options. Go memory handed to C never holds Go pointers, and C never
// keeps what it is handed past the call.
type arena struct {
	base unsafe.Pointer
	size uintptr
	off  uintptr
}

const ptrSize = unsafe.Sizeof(uintptr(0))

func strSize(s string) uintptr { return uintptr(len(s)) + 1 }

func strvSize(ss []string) uintptr {
	if ss == nil {
		return 0
	}
	n := uintptr(len(ss)+1)*ptrSize + ptrSize // + alignment slack
	for _, s := range ss {
		n += strSize(s)
	}
	return n
}

func newArena(size uintptr) *arena {
	if size == 0 {
		return &arena{}
	}
	return &arena{base: C.malloc(C.size_t(size)), size: size}
}

func (a *arena) free() {
	if a.base != nil {
		C.free(a.base)
		a.base = nil
	}
}

func (a *arena) alloc(n, align uintptr) unsafe.Pointer {
	a.off = (a.off + align - 1) &^ (align - 1)
	if a.off+n > a.size {
		panic("msb: internal error: arena too small")
	}
	p := unsafe.Add(a.base, a.off)
	a.off += n
	return p
}

// str copies s, NUL-terminated. The empty string is kept (not NULL).
func (a *arena) str(s string) *C.char {
	p := a.alloc(strSize(s), 1)
	b := unsafe.Slice((*byte)(p), len(s)+1)
	copy(b, s)
	b[len(s)] = 0
	return (*C.char)(p)
}

// optstr is str, or NULL for "".
func (a *arena) optstr(s string) *C.char {
	if s == "" {
		return nil
	}
	return a.str(s)
}

func optstrSize(s string) uintptr {
	if s == "" {
		return 0
	}
	return strSize(s)
}

// strv builds a NULL-terminated array; nil for a nil slice.
func (a *arena) strv(ss []string) **C.char {
	if ss == nil {
		return nil
	}
	arr := unsafe.Slice((**C.char)(a.alloc(uintptr(len(ss)+1)*ptrSize, ptrSize)), len(ss)+1)
	for i, s := range ss {
		arr[i] = a.str(s)
	}
	arr[len(ss)] = nil
	return &arr[0]
}

// goBytes copies a libmsb buffer (nil when empty).
func goBytes(b C.msb_buf) []byte {
	if b.len == 0 || b.ptr == nil {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(b.ptr), C.int(b.len))
}

func goString(b C.msb_buf) string {
	if b.len == 0 || b.ptr == nil {
		return ""
	}
	return C.GoStringN((*C.char)(unsafe.Pointer(b.ptr)), C.int(b.len))
}

// outputSink receives streamed output through a cgo.Handle.
type outputSink interface {
	output(stream int, data []byte) bool // false: stop (kills the command)
}

// callback is a cgo.Handle's value: the sink, and a panic raised in it (a
// panic must not unwind through libmsb's C frames; it is raised again once
// the C call has returned).
type callback struct {
	sink     outputSink
	panicked any
}

func newCallback(sink outputSink) (*callback, cgo.Handle) {
	cb := &callback{sink: sink}
	return cb, cgo.NewHandle(cb)
}

// done releases the handle and re-raises a panic of the sink.
func (cb *callback) done(h cgo.Handle) {
	h.Delete()
	if cb.panicked != nil {
		panic(cb.panicked)
	}
}

//export msbgoOutput
func msbgoOutput(stream C.int, data *C.uint8_t, n C.size_t, h C.uintptr_t) (rc C.int) {
	cb := cgo.Handle(h).Value().(*callback)
	if cb.panicked != nil {
		return 1
	}
	defer func() {
		if p := recover(); p != nil {
			cb.panicked = p
			rc = 1
		}
	}()
	var b []byte
	if n > 0 {
		// Only valid during the callback: sinks copy or write it out.
		b = unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n))
	}
	if cb.sink.output(int(stream), b) {
		return 0
	}
	return 1
}

const (
	streamStdout = C.MSB_STREAM_STDOUT
	streamStderr = C.MSB_STREAM_STDERR
)

// Version is the version of the libmsb the program runs with.
func Version() string { return C.GoString(C.msb_version()) }

// unsafeBytes views C memory as a byte slice (valid while the memory is).
func cbytes(p unsafe.Pointer, n int) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}
