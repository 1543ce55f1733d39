package msb

/*
#include "shim.h"
*/
import "C"

// benchCommandLoopC runs argv n times from C (msb_command_run + free in a
// loop, as a C caller would): the reference side of the Go-vs-C benchmark.
// It lives here because test files cannot use cgo.
func (s *Sandbox) benchCommandLoopC(argv []string, n int) error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	a := newArena(strvSize(argv))
	defer a.free()
	var e cerr
	if rc := C.msbgo_bench_command_loop(h, a.strv(argv), C.int(n), &e); rc != 0 {
		return toError(rc, &e, "bench")
	}
	return nil
}
