package msb

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"io"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Stream says where a chunk of output came from.
type Stream int

const (
	Stdout Stream = streamStdout
	Stderr Stream = streamStderr
)

// processCore owns the C handle; Process (with the finalizer) points to it,
// and the sandbox keeps a set of cores to free them before itself.
type processCore struct {
	mu    sync.Mutex
	cond  sync.Cond
	h     *C.msb_process
	users int
	dead  bool // closing or closed
}

func (pc *processCore) enter() (*C.msb_process, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dead || pc.h == nil {
		return nil, false
	}
	pc.users++
	return pc.h, true
}

func (pc *processCore) leave() {
	pc.mu.Lock()
	pc.users--
	if pc.users == 0 {
		pc.cond.Broadcast()
	}
	pc.mu.Unlock()
}

// free kills (if needed) and frees the handle once no call is in flight.
func (pc *processCore) free() {
	pc.mu.Lock()
	pc.dead = true
	h := pc.h
	if h != nil && pc.users > 0 {
		// Kill it so that blocked reads and waits return.
		var e cerr
		if rc := C.msbgo_process_signal(h, C.int(syscall.SIGKILL), &e); rc != 0 {
			C.msbgo_err_free(&e)
		}
	}
	for pc.users > 0 {
		pc.cond.Wait()
	}
	pc.h = nil
	pc.mu.Unlock()
	if h != nil {
		C.msb_process_free(h)
	}
}

// Process is a command running in the background, or a terminal session
// (OpenPTY). Its methods are safe for concurrent use (Signal and Write
// while another goroutine reads or waits). Close it when done; the
// sandbox's Stop or Close releases it too.
type Process struct {
	s    *Sandbox
	core *processCore
	pid  int64
	cmd  Cmd
	pty  bool
}

// StartProcess starts a command in the background. Cmd.Stdin, if set, is
// written first; stdin stays open (Write, CloseStdin). Cmd.Stdout/Stderr
// are not used: read the output with Read, or get it from Wait.
func (s *Sandbox) StartProcess(c Cmd) (*Process, error) {
	h, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release()
	ca, err := s.prepare(&c)
	if err != nil {
		return nil, err
	}
	defer ca.a.free()
	var e cerr
	var p *C.msb_process
	if rc := C.msbgo_process_start(&p, h, &ca.o, &e); rc != 0 {
		return nil, toError(rc, &e, "process start")
	}
	return s.adopt(p, c, false), nil
}

// PTYOptions describe a terminal session.
type PTYOptions struct {
	Argv       []string // nil: StartConfig.Shell, else bash, else sh
	Env        []string // added; TERM defaults to xterm-256color
	Dir        string
	Rows, Cols uint16 // 0: 24 x 80
}

// OpenPTY starts a program on a new pseudo-terminal. Its output comes as
// Stdout chunks from Read; Write types into it.
func (s *Sandbox) OpenPTY(o PTYOptions) (*Process, error) {
	h, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release()
	argv := o.Argv
	if argv == nil && s.shell != "" {
		argv = []string{s.shell}
	}
	a := newArena(strvSize(argv) + strvSize(o.Env) + optstrSize(o.Dir))
	defer a.free()
	var co C.msb_pty_options
	co.version = C.MSB_PTY_OPTIONS_VERSION
	co.argv = a.strv(argv)
	if len(o.Env) > 0 {
		co.env = a.strv(o.Env)
	}
	co.cwd = a.optstr(o.Dir)
	co.rows, co.cols = C.uint16_t(o.Rows), C.uint16_t(o.Cols)
	var e cerr
	var p *C.msb_process
	if rc := C.msbgo_pty_open(&p, h, &co, &e); rc != 0 {
		return nil, toError(rc, &e, "pty open")
	}
	name := ""
	if len(argv) > 0 {
		name = argv[0]
	}
	return s.adopt(p, Cmd{Name: name, Args: argvTail(argv)}, true), nil
}

func argvTail(a []string) []string {
	if len(a) < 2 {
		return nil
	}
	return a[1:]
}

func (s *Sandbox) adopt(p *C.msb_process, c Cmd, pty bool) *Process {
	pc := &processCore{h: p}
	pc.cond.L = &pc.mu
	s.mu.Lock()
	if s.procs == nil {
		s.procs = map[*processCore]struct{}{}
	}
	s.procs[pc] = struct{}{}
	s.mu.Unlock()
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	proc := &Process{s: s, core: pc, pid: int64(C.msb_process_pid(p)), cmd: c, pty: pty}
	runtime.SetFinalizer(proc, (*Process).Close)
	return proc
}

// enter pins the sandbox and the process for one call.
func (p *Process) enter() (*C.msb_process, error) {
	if _, err := p.s.acquire(); err != nil {
		return nil, err
	}
	h, ok := p.core.enter()
	if !ok {
		p.s.release()
		return nil, ErrClosed
	}
	return h, nil
}

func (p *Process) leave() {
	p.core.leave()
	p.s.release()
}

// PID is the process's pid inside the sandbox.
func (p *Process) PID() int64 { return p.pid }

// Output is a chunk of a process's output.
type Output struct {
	Stream Stream
	Data   []byte
}

// Read returns the next chunk of output, waiting up to timeout (negative:
// forever). It returns io.EOF once the process has ended and all its output
// was read (then call Wait for the exit status), and an *Error with
// CodeTimedOut when nothing came in time.
func (p *Process) Read(timeout time.Duration) (Output, error) {
	h, err := p.enter()
	if err != nil {
		return Output{}, err
	}
	defer p.leave()
	ms := int64(-1)
	if timeout >= 0 {
		ms = timeout.Milliseconds()
	}
	var b C.msb_buf
	var stream C.int
	var e cerr
	switch rc := C.msbgo_process_read(&b, &stream, h, C.int64_t(ms), &e); rc {
	case 0:
	case C.MSB_EDONE:
		return Output{}, io.EOF
	case C.MSB_ETIMEDOUT:
		return Output{}, &Error{Op: "process read", Code: CodeTimedOut, Message: "no output in time", Hint: "read again later"}
	default:
		return Output{}, toError(rc, &e, "process read")
	}
	out := Output{Stream: Stream(stream), Data: goBytes(b)}
	C.msb_buf_free(&b)
	return out, nil
}

// Write writes to the process's stdin (to the terminal for a PTY).
func (p *Process) Write(data []byte) (int, error) {
	h, err := p.enter()
	if err != nil {
		return 0, err
	}
	defer p.leave()
	if len(data) == 0 {
		return 0, nil
	}
	cp := C.CBytes(data)
	defer C.free(cp)
	var e cerr
	if rc := C.msbgo_process_write(h, cp, C.size_t(len(data)), &e); rc != 0 {
		return 0, toError(rc, &e, "process write")
	}
	return len(data), nil
}

// CloseStdin ends the input (EOF; ^D on a PTY).
func (p *Process) CloseStdin() error {
	h, err := p.enter()
	if err != nil {
		return err
	}
	defer p.leave()
	var e cerr
	if rc := C.msbgo_process_close_stdin(h, &e); rc != 0 {
		return toError(rc, &e, "process close stdin")
	}
	return nil
}

// Signal sends a signal to the process's group.
func (p *Process) Signal(sig syscall.Signal) error {
	h, err := p.enter()
	if err != nil {
		return err
	}
	defer p.leave()
	var e cerr
	if rc := C.msbgo_process_signal(h, C.int(sig), &e); rc != 0 {
		return toError(rc, &e, "process signal")
	}
	return nil
}

// Resize resizes a PTY session's terminal.
func (p *Process) Resize(rows, cols uint16) error {
	h, err := p.enter()
	if err != nil {
		return err
	}
	defer p.leave()
	var e cerr
	if rc := C.msbgo_process_resize(h, C.uint16_t(rows), C.uint16_t(cols), &e); rc != 0 {
		return toError(rc, &e, "process resize")
	}
	return nil
}

// Wait waits for the process to end. The result holds the output not read
// with Read.
func (p *Process) Wait() (CommandExecution, error) { return p.WaitContext(background) }

// WaitContext is Wait; when ctx is done the process is killed and the error
// wraps ctx.Err().
func (p *Process) WaitContext(ctx context.Context) (CommandExecution, error) {
	h, err := p.enter()
	if err != nil {
		return CommandExecution{}, err
	}
	defer p.leave()
	stop := func() bool { return false }
	if ctx.Done() != nil {
		stop = watch(ctx, h)
	}
	var e cerr
	var r *C.msb_command_result
	rc := C.msbgo_process_wait(&r, h, -1, &e)
	killed := stop()
	if rc != 0 {
		err := toError(rc, &e, "process wait")
		if killed {
			err = ctx.Err()
		}
		return CommandExecution{}, err
	}
	res := commandResult(r, &p.cmd)
	res.PID = p.pid
	C.msb_command_result_free(r)
	if killed {
		return res, ctx.Err()
	}
	return res, nil
}

// Close kills the process if it still runs and releases it. Idempotent.
func (p *Process) Close() error {
	runtime.SetFinalizer(p, nil)
	p.s.mu.Lock()
	_, mine := p.s.procs[p.core]
	delete(p.s.procs, p.core)
	if mine {
		p.s.users++ // the sandbox must outlive the process handle
	}
	p.s.mu.Unlock()
	if mine {
		p.core.free()
		p.s.release()
	}
	return nil
}

// ProcessInfo describes a command running in a sandbox.
type ProcessInfo struct {
	PID     int64
	Command string // argv joined with spaces
	PTY     bool
	Started time.Time
}

// Processes lists the commands libmsb started in the sandbox that still run.
func (s *Sandbox) Processes() ([]ProcessInfo, error) {
	h, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release()
	var l *C.msb_process_list
	var e cerr
	if rc := C.msbgo_process_list_all(&l, h, &e); rc != 0 {
		return nil, toError(rc, &e, "process list")
	}
	defer C.msb_process_list_free(l)
	var out []ProcessInfo
	if l.len > 0 {
		for _, it := range unsafe.Slice(l.items, int(l.len)) {
			out = append(out, ProcessInfo{PID: int64(it.pid), Command: C.GoString(it.command),
				PTY: it.pty != 0, Started: time.UnixMilli(int64(it.started_ms))})
		}
	}
	return out, nil
}
