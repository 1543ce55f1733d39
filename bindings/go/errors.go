package msb

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"io/fs"
	"syscall"
)

// The reference SDK's errors. Operations wrap the underlying cause, so both
// errors.Is(err, ErrFailedToRunCommand) and errors.As(err, &*msb.Error) work.
var (
	ErrSandboxAlreadyStarted = errors.New("sandbox already started")
	ErrSandboxNotStarted     = errors.New("sandbox not started")
	ErrFailedToStartSandbox  = errors.New("failed to start sandbox")
	ErrFailedToStopSandbox   = errors.New("failed to stop sandbox")
	ErrFailedToRunCode       = errors.New("failed to run code")
	ErrFailedToRunCommand    = errors.New("failed to run command")
	ErrFailedToGetMetrics    = errors.New("failed to get metrics")

	ErrExecutionNotParsed         = errors.New("execution output could not be parsed")
	ErrLanguageMustBeSpecified    = errors.New("language must be specified")
	ErrFailedToGenerateRandomName = errors.New("failed to generate random name")
	ErrUnknownLanguage            = errors.New("unknown language")

	// ErrUnsupportedConfig is matched by a *ConfigError: a StartConfig field
	// (or option) that libmsb cannot honour.
	ErrUnsupportedConfig = errors.New("unsupported sandbox configuration")

	// ErrClosed: the sandbox or process handle was closed.
	ErrClosed = errors.New("msb: handle is closed")
)

// ErrorCode is one of libmsb's error codes (msb_error_code). It is itself an
// error, so errors.Is(err, msb.CodeNotFound) tests an *Error's code.
type ErrorCode int

// libmsb's error codes; the values are the C ABI's and never change.
const (
	CodeOK          ErrorCode = C.MSB_OK
	CodeError       ErrorCode = C.MSB_ERROR
	CodeInvalid     ErrorCode = C.MSB_EINVAL
	CodeNoMemory    ErrorCode = C.MSB_ENOMEM
	CodeVersion     ErrorCode = C.MSB_EVERSION
	CodeState       ErrorCode = C.MSB_ESTATE
	CodeUnsupported ErrorCode = C.MSB_EUNSUPPORTED
	CodeSpawn       ErrorCode = C.MSB_ESPAWN
	CodeProtocol    ErrorCode = C.MSB_EPROTO
	CodeSandbox     ErrorCode = C.MSB_ESANDBOX
	CodeTimedOut    ErrorCode = C.MSB_ETIMEDOUT
	CodeNotFound    ErrorCode = C.MSB_ENOTFOUND
	CodePermission  ErrorCode = C.MSB_EPERM
	CodeIO          ErrorCode = C.MSB_EIO
	CodeCanceled    ErrorCode = C.MSB_ECANCELED
	CodeDone        ErrorCode = C.MSB_EDONE
	CodeExists      ErrorCode = C.MSB_EEXISTS
	CodeTooBig      ErrorCode = C.MSB_ETOOBIG
)

// String is libmsb's static description of the code (msb_strerror).
func (c ErrorCode) String() string { return C.GoString(C.msb_strerror(C.int(c))) }

func (c ErrorCode) Error() string { return "msb: " + c.String() }

// Error is a failure reported by libmsb: its code, message, hint (one
// sentence on what to do about it) and the OS errno behind it, if any.
type Error struct {
	Op      string // the Go operation, e.g. "command run"
	Code    ErrorCode
	Message string
	Hint    string
	Errno   syscall.Errno
}

func (e *Error) Error() string {
	s := "msb: "
	if e.Op != "" {
		s += e.Op + ": "
	}
	s += e.Message
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

// Is matches an ErrorCode or an *Error with the same code, and maps codes to
// the standard library's sentinels where the meaning is the same:
// CodeNotFound is fs.ErrNotExist, CodeExists fs.ErrExist, CodePermission
// fs.ErrPermission, CodeUnsupported errors.ErrUnsupported.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case ErrorCode:
		return e.Code == t
	case *Error:
		return t != nil && e.Code == t.Code
	}
	switch target {
	case fs.ErrNotExist:
		return e.Code == CodeNotFound
	case fs.ErrExist:
		return e.Code == CodeExists
	case fs.ErrPermission:
		return e.Code == CodePermission
	case errors.ErrUnsupported:
		return e.Code == CodeUnsupported
	}
	return false
}

// Unwrap gives the OS errno, when there is one.
func (e *Error) Unwrap() error {
	if e.Errno != 0 {
		return e.Errno
	}
	return nil
}

// ConfigError reports a StartConfig field or option that libmsb cannot
// honour; it matches ErrUnsupportedConfig (for unsupported fields) with
// errors.Is. Start wraps it in ErrFailedToStartSandbox.
type ConfigError struct {
	Field  string // e.g. "StartConfig.Ports" or "StartConfig.Volumes[1]"
	Reason string
	Hint   string
	// Unsupported is true when the field cannot be honoured at all (rather
	// than having a malformed value).
	Unsupported bool
}

func (e *ConfigError) Error() string {
	s := "msb: " + e.Field + ": " + e.Reason
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

func (e *ConfigError) Is(target error) bool {
	return target == ErrUnsupportedConfig && e.Unsupported
}
