package msb

/*
#include "shim.h"
#include <signal.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// CommandExecution is the result of a command that ran. A command that ran
// and failed (non-zero exit, killed) is not an error: look here.
type CommandExecution struct {
	Command         string
	Args            []string
	Stdout          []byte // empty when streamed to Cmd.Stdout
	Stderr          []byte // empty when streamed to Cmd.Stderr
	ExitCode        int    // exit status, or -1 when killed by a signal
	Signal          int    // the killing signal, or 0
	TimedOut        bool   // Cmd.Timeout killed it
	StdoutTruncated bool   // stdout exceeded Cmd.OutputCap
	StderrTruncated bool
	Elapsed         time.Duration
	PID             int64 // inside the sandbox (StartProcess only)

	ran bool
}

// trimNL drops one trailing newline, as the reference's line joining does.
func trimNL(b []byte) string { return strings.TrimSuffix(string(b), "\n") }

// GetOutput returns stdout as a string, without its final newline.
// Returns ErrExecutionNotParsed for a zero CommandExecution.
func (ce CommandExecution) GetOutput() (string, error) {
	if !ce.ran {
		return "", ErrExecutionNotParsed
	}
	return trimNL(ce.Stdout), nil
}

// GetError returns stderr as a string, without its final newline.
func (ce CommandExecution) GetError() (string, error) {
	if !ce.ran {
		return "", ErrExecutionNotParsed
	}
	return trimNL(ce.Stderr), nil
}

// GetExitCode returns the exit code (-1 if killed by a signal, or for a zero
// CommandExecution).
func (ce CommandExecution) GetExitCode() int {
	if !ce.ran {
		return -1
	}
	return ce.ExitCode
}

// IsSuccess reports whether the command exited with status 0.
func (ce CommandExecution) IsSuccess() bool {
	return ce.ran && ce.ExitCode == 0 && ce.Signal == 0 && !ce.TimedOut
}

// GetCommand returns the command that was executed.
func (ce CommandExecution) GetCommand() string { return ce.Command }

// GetArgs returns the arguments used for the command.
func (ce CommandExecution) GetArgs() []string {
	if !ce.ran {
		return nil
	}
	return ce.Args
}

// Cmd describes a command for Exec and StartProcess. No shell is involved:
// Name is looked up in the sandbox's PATH.
type Cmd struct {
	Name  string
	Args  []string
	Env   []string  // "KEY=VALUE" added to the sandbox's environment
	Dir   string    // default: the sandbox's workdir
	Stdin io.Reader // read to the end first (Exec: then EOF); nil: no input
	// Stdout and Stderr, when set, receive the output as it is produced
	// (on the calling goroutine) instead of it being buffered. A write
	// error kills the command.
	Stdout, Stderr io.Writer
	Timeout        time.Duration // kill after this long (TimedOut); 0: none
	OutputCap      int64         // bytes kept per buffered stream; 0: 16 MiB
}

// Commands runs commands in a sandbox; it implements CommandRunner.
type Commands struct{ s *Sandbox }

// Command returns the sandbox's CommandRunner (a *Commands).
func (s *Sandbox) Command() CommandRunner { return Commands{s} }

// Run runs cmd with args and waits for it.
func (c Commands) Run(cmd string, args []string) (CommandExecution, error) {
	return c.s.Exec(background, Cmd{Name: cmd, Args: args})
}

// RunContext is Run; when ctx is done the command is killed (SIGKILL) and
// the error wraps ctx.Err().
func (c Commands) RunContext(ctx context.Context, cmd string, args []string) (CommandExecution, error) {
	return c.s.Exec(ctx, Cmd{Name: cmd, Args: args})
}

type cmdArgs struct {
	a     *arena
	o     C.msb_command_options
	stdin []byte
}

func (s *Sandbox) prepare(c *Cmd) (*cmdArgs, error) {
	if c.Name == "" {
		return nil, &Error{Op: "command run", Code: CodeInvalid, Message: "the command name is empty",
			Hint: "give the program to run, e.g. Cmd{Name: \"ls\"}"}
	}
	if c.OutputCap < 0 {
		return nil, &Error{Op: "command run", Code: CodeInvalid, Message: "OutputCap is negative"}
	}
	ca := &cmdArgs{}
	if c.Stdin != nil {
		b, err := io.ReadAll(c.Stdin)
		if err != nil {
			return nil, fmt.Errorf("msb: reading Cmd.Stdin: %w", err)
		}
		ca.stdin = b
	}
	size := strvSize(c.Args) + strSize(c.Name) + ptrSize + strvSize(c.Env) + optstrSize(c.Dir) +
		uintptr(len(ca.stdin)) + 1
	if c.Args == nil {
		size += 2 * ptrSize
	}
	ca.a = newArena(size)
	argv := make([]string, 0, len(c.Args)+1)
	argv = append(append(argv, c.Name), c.Args...)
	C.msb_command_options_init(&ca.o, C.MSB_COMMAND_OPTIONS_VERSION)
	ca.o.argv = ca.a.strv(argv)
	if len(c.Env) > 0 {
		ca.o.env = ca.a.strv(c.Env)
	}
	ca.o.cwd = ca.a.optstr(c.Dir)
	if ca.stdin != nil {
		// Copied to C memory: the options struct must hold no Go pointer.
		p := ca.a.alloc(uintptr(len(ca.stdin))+1, 1)
		copy(cbytes(p, len(ca.stdin)), ca.stdin)
		ca.o.stdin_data = p
		ca.o.stdin_len = C.size_t(len(ca.stdin))
	}
	ca.o.timeout_ms = C.int64_t(durationMS(c.Timeout))
	ca.o.output_cap = C.int64_t(c.OutputCap)
	return ca, nil
}

func commandResult(r *C.msb_command_result, c *Cmd) CommandExecution {
	return CommandExecution{
		Command:         c.Name,
		Args:            c.Args,
		Stdout:          goBytes(r.out),
		Stderr:          goBytes(r.err),
		ExitCode:        int(r.exit_code),
		Signal:          int(r.signal),
		TimedOut:        r.timed_out != 0,
		StdoutTruncated: r.out_truncated != 0,
		StderrTruncated: r.err_truncated != 0,
		Elapsed:         time.Duration(r.elapsed_us) * time.Microsecond,
		ran:             true,
	}
}

func runErr(err error) error { return fmt.Errorf("%w: %w", ErrFailedToRunCommand, err) }

// Exec runs a command and waits for it. Errors are for commands that could
// not start (wrapping ErrFailedToRunCommand and an *Error: CodeNotFound for
// an unknown program) and for failing sandboxes; when ctx is done the
// command is killed and the error wraps ctx.Err() (the partial result is
// returned too).
func (s *Sandbox) Exec(ctx context.Context, c Cmd) (CommandExecution, error) {
	if ctx == nil {
		ctx = background
	}
	h, err := s.acquire()
	if err != nil {
		return CommandExecution{}, err
	}
	defer s.release()
	if err := ctx.Err(); err != nil {
		return CommandExecution{}, runErr(err)
	}
	ca, err := s.prepare(&c)
	if err != nil {
		return CommandExecution{}, runErr(err)
	}
	defer ca.a.free()
	s.cfg.logger.Debug("Executing command", "sandbox", s.cfg.name, "command", c.Name, "args", c.Args)

	var e cerr
	var r *C.msb_command_result
	switch {
	case ctx.Done() == nil && c.Stdout == nil && c.Stderr == nil:
		if rc := C.msbgo_command_run(&r, h, &ca.o, &e); rc != 0 {
			return CommandExecution{}, runErr(toError(rc, &e, "command run"))
		}
	case ctx.Done() == nil:
		sink := &streamSink{stdout: c.Stdout, stderr: c.Stderr, cap: c.OutputCap}
		cb, hd := newCallback(sink)
		rc := C.msbgo_command_run_stream(&r, h, &ca.o, C.uintptr_t(hd), &e)
		if cb.panicked != nil && rc == 0 {
			C.msb_command_result_free(r)
		} else if cb.panicked != nil {
			C.msbgo_err_free(&e)
		}
		cb.done(hd)
		if rc != 0 {
			err := toError(rc, &e, "command run")
			if sink.werr != nil {
				err = sink.werr
			}
			return CommandExecution{}, runErr(err)
		}
		defer C.msb_command_result_free(r)
		res := commandResult(r, &c)
		sink.fill(&res)
		return res, nil
	default:
		return s.execCancelable(ctx, h, ca, &c)
	}
	res := commandResult(r, &c)
	C.msb_command_result_free(r)
	return res, nil
}

// execCancelable runs the command as a process so that it can be killed
// when ctx is done, even if it produces no output.
func (s *Sandbox) execCancelable(ctx context.Context, h *C.msb_sandbox, ca *cmdArgs, c *Cmd) (CommandExecution, error) {
	var e cerr
	var p *C.msb_process
	if rc := C.msbgo_process_start(&p, h, &ca.o, &e); rc != 0 {
		return CommandExecution{}, runErr(toError(rc, &e, "command run"))
	}
	defer C.msb_process_free(p)
	if rc := C.msbgo_process_close_stdin(p, &e); rc != 0 {
		return CommandExecution{}, runErr(toError(rc, &e, "command run"))
	}
	stop := watch(ctx, p)
	var sink *streamSink
	var err error
	if c.Stdout != nil || c.Stderr != nil {
		sink = &streamSink{stdout: c.Stdout, stderr: c.Stderr, cap: c.OutputCap}
		err = readAll(p, sink)
	}
	var r *C.msb_command_result
	if err == nil {
		if rc := C.msbgo_process_wait(&r, p, -1, &e); rc != 0 {
			err = toError(rc, &e, "command run")
		}
	}
	killed := stop()
	var res CommandExecution
	if r != nil {
		res = commandResult(r, c)
		C.msb_command_result_free(r)
		if sink != nil {
			sink.fill(&res)
		}
	}
	if killed {
		return res, runErr(ctx.Err())
	}
	if err != nil {
		return res, runErr(err)
	}
	return res, nil
}

// watch kills p (SIGKILL) when ctx is done. stop ends the watch and says
// whether it killed p. msb_process_signal does not take the process's call
// lock, so it may run while another thread waits on p.
func watch(ctx context.Context, p *C.msb_process) (stop func() bool) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var killed bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			var e cerr
			if rc := C.msbgo_process_signal(p, C.SIGKILL, &e); rc != 0 {
				C.msbgo_err_free(&e)
			}
			killed = true
		case <-done:
		}
	}()
	return func() bool {
		close(done)
		wg.Wait()
		return killed
	}
}

// readAll delivers a process's output to sink until it ends.
func readAll(p *C.msb_process, sink *streamSink) error {
	for {
		var b C.msb_buf
		var stream C.int
		var e cerr
		rc := C.msbgo_process_read(&b, &stream, p, -1, &e)
		if rc == C.MSB_EDONE {
			return nil
		}
		if rc != 0 {
			return toError(rc, &e, "process read")
		}
		ok := sink.output(int(stream), cbytes(unsafe.Pointer(b.ptr), int(b.len)))
		C.msb_buf_free(&b)
		if !ok {
			var e2 cerr
			if rc := C.msbgo_process_signal(p, C.SIGKILL, &e2); rc != 0 {
				C.msbgo_err_free(&e2)
			}
			if sink.werr != nil {
				return sink.werr
			}
			return errors.New("msb: output stopped")
		}
	}
}

// streamSink sends output to writers, or buffers it (up to cap) for a
// stream without one.
type streamSink struct {
	stdout, stderr     io.Writer
	cap                int64
	out, err           []byte
	outTrunc, errTrunc bool
	werr               error
	ctx                context.Context // nil: never canceled
}

const defaultOutputCap = 16 << 20

func (s *streamSink) output(stream int, data []byte) bool {
	if s.ctx != nil && s.ctx.Err() != nil {
		return false
	}
	w, buf, trunc := s.stdout, &s.out, &s.outTrunc
	if stream == streamStderr {
		w, buf, trunc = s.stderr, &s.err, &s.errTrunc
	}
	if w != nil {
		if _, err := w.Write(data); err != nil {
			s.werr = fmt.Errorf("msb: writing output: %w", err)
			return false
		}
		return true
	}
	limit := s.cap
	if limit == 0 {
		limit = defaultOutputCap
	}
	room := limit - int64(len(*buf))
	if int64(len(data)) > room {
		data = data[:max(room, 0)]
		*trunc = true
	}
	*buf = append(*buf, data...)
	return true
}

func (s *streamSink) fill(r *CommandExecution) {
	if s.stdout == nil {
		r.Stdout = append(s.out, r.Stdout...)
		r.StdoutTruncated = r.StdoutTruncated || s.outTrunc
	}
	if s.stderr == nil {
		r.Stderr = append(s.err, r.Stderr...)
		r.StderrTruncated = r.StderrTruncated || s.errTrunc
	}
}
