package msb

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unsafe"
)

// CodeExecution is the result of code run in a REPL. Code that raised is
// not an error: see HasError, GetStatus and the Error* fields.
type CodeExecution struct {
	Language     Language
	Status       string // "success", "error" (raised) or "timeout"
	Stdout       []byte // empty when streamed
	Stderr       []byte // empty when streamed
	Value        string // repr of the last expression; "" if none
	ErrorType    string // e.g. "ZeroDivisionError"
	ErrorMessage string
	Traceback    string
	Outputs      []RichOutput // rich representations of the value
	StateLost    bool         // the interpreter was restarted: earlier state is gone
	Elapsed      time.Duration
	// What was cut: stdout or stderr past the 64 MiB cap, and the value,
	// error or rich outputs cut to fit one reply.
	StdoutTruncated, StderrTruncated, ValueTruncated bool

	ran bool
}

// RichOutput is one representation of a value, e.g. "text/html" or
// "image/png" (base64).
type RichOutput struct {
	MIME string
	Data []byte
}

// GetOutput returns stdout as a string, without its final newline.
// Returns ErrExecutionNotParsed for a zero CodeExecution.
func (ce CodeExecution) GetOutput() (string, error) {
	if !ce.ran {
		return "", ErrExecutionNotParsed
	}
	return trimNL(ce.Stdout), nil
}

// GetError returns stderr as a string, without its final newline; when the
// code raised and stderr does not already hold the traceback, the traceback
// (or "Type: message") is added.
func (ce CodeExecution) GetError() (string, error) {
	if !ce.ran {
		return "", ErrExecutionNotParsed
	}
	s := trimNL(ce.Stderr)
	if ce.Status != "success" {
		detail := strings.TrimSuffix(ce.Traceback, "\n")
		if detail == "" && ce.ErrorType != "" {
			detail = ce.ErrorType + ": " + ce.ErrorMessage
		} else if detail == "" {
			detail = ce.ErrorMessage
		}
		if detail != "" && !strings.Contains(s, detail) {
			if s != "" {
				s += "\n"
			}
			s += detail
		}
	}
	return s, nil
}

// HasError reports whether the code raised or timed out, or wrote to stderr
// (as the reference SDK).
func (ce CodeExecution) HasError() bool {
	return ce.ran && (ce.Status != "success" || len(ce.Stderr) > 0)
}

// GetStatus returns "success", "error" or "timeout"; "unknown" for a zero
// CodeExecution.
func (ce CodeExecution) GetStatus() string {
	if !ce.ran {
		return "unknown"
	}
	return ce.Status
}

// GetLanguage returns "python", "nodejs" or "shell"; "unknown" for a zero
// CodeExecution.
func (ce CodeExecution) GetLanguage() string {
	if !ce.ran {
		return "unknown"
	}
	return ce.Language.String()
}

// REPL runs code in one interpreter context, whose state (variables,
// imports) persists between runs. It implements CodeRunner.
type REPL struct {
	s       *Sandbox
	lang    Language
	context string
}

// Code returns the CodeRunner of the sandbox's language, default context
// (a *REPL).
func (s *Sandbox) Code() CodeRunner { return &REPL{s: s, lang: s.lang} }

// REPL returns a runner for a language and named context ("": "default");
// each (language, context) pair is an interpreter of its own.
func (s *Sandbox) REPL(lang Language, context string) *REPL {
	return &REPL{s: s, lang: lang, context: context}
}

// Run runs code and waits for it.
func (r *REPL) Run(code string) (CodeExecution, error) {
	return r.s.RunCode(background, CodeRun{Code: code, Language: r.lang, Context: r.context})
}

// RunContext is Run, interrupted when ctx is done (see RunCode).
func (r *REPL) RunContext(ctx context.Context, code string) (CodeExecution, error) {
	return r.s.RunCode(ctx, CodeRun{Code: code, Language: r.lang, Context: r.context})
}

// Reset restarts the context's interpreter fresh (its state is lost).
func (r *REPL) Reset() error { return r.s.contextOp(1, r.lang, r.context) }

// Destroy ends the context's interpreter.
func (r *REPL) Destroy() error { return r.s.contextOp(2, r.lang, r.context) }

// Interrupt stops the code running in this context now (KeyboardInterrupt,
// SIGINT), keeping the interpreter's state; that run ends with status
// "interrupted". Nothing running is not an error.
func (r *REPL) Interrupt() error { return r.s.contextOp(3, r.lang, r.context) }

// CodeRun describes code for RunCode.
type CodeRun struct {
	Code     string
	Language Language // 0: the sandbox's language
	Context  string   // "": "default"
	// Timeout interrupts the run (KeyboardInterrupt, SIGINT) and keeps the
	// state; Status is then "timeout". 0: none (but see RunCode for ctx).
	Timeout time.Duration
	// Stdout and Stderr, when set, receive output as it is produced.
	Stdout, Stderr io.Writer
}

// RunCode runs code in a REPL context. Errors are for missing interpreters
// (an *Error with CodeNotFound) and failing sandboxes, wrapped in
// ErrFailedToRunCode.
//
// Cancellation: a deadline on ctx becomes the run's timeout (interrupted,
// state kept, Status "timeout"). When ctx is canceled, the run is
// interrupted at its next output; if it produces none within 100 ms, the
// context's interpreter is reset (its state is lost). The error then wraps
// ctx.Err().
func (s *Sandbox) RunCode(ctx context.Context, cr CodeRun) (CodeExecution, error) {
	if ctx == nil {
		ctx = background
	}
	if cr.Language == 0 {
		cr.Language = s.lang
	}
	h, err := s.acquire()
	if err != nil {
		return CodeExecution{}, err
	}
	defer s.release()
	if err := ctx.Err(); err != nil {
		return CodeExecution{}, codeErr(err)
	}
	timeout := durationMS(cr.Timeout)
	fromCtx := false
	if dl, ok := ctx.Deadline(); ok {
		left := durationMS(time.Until(dl))
		if left <= 0 {
			return CodeExecution{}, codeErr(context.DeadlineExceeded)
		}
		if timeout == 0 || left < timeout {
			timeout, fromCtx = left, true
		}
	}
	a := newArena(optstrSize(cr.Context) + uintptr(len(cr.Code)) + 1)
	defer a.free()
	var o C.msb_repl_options
	o.version = C.MSB_REPL_OPTIONS_VERSION
	o.language = C.msb_language(cr.Language)
	o.context = a.optstr(cr.Context)
	o.timeout_ms = C.int64_t(timeout)
	code := a.str(cr.Code)
	s.cfg.logger.Debug("Executing code in REPL", "sandbox", s.cfg.name, "language", cr.Language.String())

	var e cerr
	var r *C.msb_repl_result
	var rc C.int
	var sink *streamSink
	if ctx.Done() == nil && cr.Stdout == nil && cr.Stderr == nil {
		rc = C.msbgo_repl_run(&r, h, &o, code, C.size_t(len(cr.Code)), &e)
	} else {
		sink = &streamSink{stdout: cr.Stdout, stderr: cr.Stderr, cap: 64 << 20}
		if ctx.Done() != nil {
			sink.ctx = ctx
		}
		cb, hd := newCallback(sink)
		stop := s.watchREPL(ctx, h, cr)
		rc = C.msbgo_repl_run_stream(&r, h, &o, code, C.size_t(len(cr.Code)), C.uintptr_t(hd), &e)
		stop()
		if cb.panicked != nil && rc == 0 {
			C.msb_repl_result_free(r)
		} else if cb.panicked != nil {
			C.msbgo_err_free(&e)
		}
		cb.done(hd)
	}
	if rc != 0 {
		err := toError(rc, &e, "code run")
		if sink != nil && sink.werr != nil {
			err = sink.werr
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return CodeExecution{}, codeErr(err)
	}
	defer C.msb_repl_result_free(r)
	res := replResult(r, cr.Language)
	if sink != nil {
		if cr.Stdout == nil {
			res.Stdout = append(sink.out, res.Stdout...)
		}
		if cr.Stderr == nil {
			res.Stderr = append(sink.err, res.Stderr...)
		}
	}
	if res.Status == "timeout" && fromCtx {
		return res, codeErr(context.DeadlineExceeded)
	}
	if err := ctx.Err(); err != nil && res.Status != "success" {
		return res, codeErr(err) // interrupted, or its context reset
	}
	return res, nil
}

// watchREPL interrupts the run when ctx is canceled and it does not end on
// its own (through the output callback) soon after: the interpreter and its
// state stay (an interpreter that ignores the interrupt is restarted).
func (s *Sandbox) watchREPL(ctx context.Context, h *C.msb_sandbox, cr CodeRun) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		if _, hasDeadline := ctx.Deadline(); hasDeadline && ctx.Err() == context.DeadlineExceeded {
			return // the agent's timeout interrupts it, keeping the state
		}
		select {
		case <-done:
			return
		case <-time.After(100 * time.Millisecond):
		}
		name := C.CString(contextName(cr.Context))
		defer C.free(unsafe.Pointer(name))
		var e cerr
		if rc := C.msbgo_repl_context_op(3, h, C.msb_language(cr.Language), name, &e); rc != 0 {
			C.msbgo_err_free(&e)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func codeErr(err error) error { return fmt.Errorf("%w: %w", ErrFailedToRunCode, err) }

func replResult(r *C.msb_repl_result, lang Language) CodeExecution {
	res := CodeExecution{
		Language:     lang,
		Stdout:       goBytes(r.out),
		Stderr:       goBytes(r.err),
		Value:        goString(r.value),
		ErrorType:    C.GoString(r.error_type),
		ErrorMessage: C.GoString(r.error_message),
		Traceback:    goString(r.traceback),
		StateLost:    r.state_lost != 0,
		Elapsed:      time.Duration(r.elapsed_us) * time.Microsecond,
		ran:          true,

		StdoutTruncated: r.out_truncated != 0,
		StderrTruncated: r.err_truncated != 0,
		ValueTruncated:  r.value_truncated != 0,
	}
	switch r.status {
	case C.MSB_REPL_OK:
		res.Status = "success"
	case C.MSB_REPL_ERROR:
		res.Status = "error"
	case C.MSB_REPL_TIMEOUT:
		res.Status = "timeout"
	case C.MSB_REPL_INTERRUPTED:
		res.Status = "interrupted"
	default:
		res.Status = "unknown"
	}
	if r.outputs_len > 0 {
		outs := unsafe.Slice(r.outputs, int(r.outputs_len))
		for _, o := range outs {
			res.Outputs = append(res.Outputs, RichOutput{MIME: C.GoString(o.mime), Data: goBytes(o.data)})
		}
	}
	return res
}

func (s *Sandbox) contextOp(op int, lang Language, context string) error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	name := C.CString(contextName(context))
	defer C.free(unsafe.Pointer(name))
	var e cerr
	if rc := C.msbgo_repl_context_op(C.int(op), h, C.msb_language(lang), name, &e); rc != 0 {
		return toError(rc, &e, "repl context")
	}
	return nil
}

// contextName: context operations need the name runs default to.
func contextName(c string) string {
	if c == "" {
		return "default"
	}
	return c
}
