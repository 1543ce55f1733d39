package msb

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"
)

// Logger receives the binding's log lines: a message and key-value pairs,
// as log/slog takes them. *slog.Logger satisfies it; see NewSlogLogger.
type Logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Error(msg string, args ...any)
}

// NoOpLogger discards everything (the default).
type NoOpLogger struct{}

func (NoOpLogger) Debug(string, ...any) {}
func (NoOpLogger) Info(string, ...any)  {}
func (NoOpLogger) Error(string, ...any) {}

// SlogLogger adapts a *slog.Logger (nil: slog.Default()). It also has Warn,
// which the binding uses for weakened limits.
type SlogLogger struct{ L *slog.Logger }

// NewSlogLogger returns a Logger writing to l (nil: slog.Default()).
func NewSlogLogger(l *slog.Logger) SlogLogger { return SlogLogger{L: l} }

func (s SlogLogger) l() *slog.Logger {
	if s.L == nil {
		return slog.Default()
	}
	return s.L
}

func (s SlogLogger) Debug(msg string, args ...any) { s.l().Debug(msg, args...) }
func (s SlogLogger) Info(msg string, args ...any)  { s.l().Info(msg, args...) }
func (s SlogLogger) Warn(msg string, args ...any)  { s.l().Warn(msg, args...) }
func (s SlogLogger) Error(msg string, args ...any) { s.l().Error(msg, args...) }

func logWarn(l Logger, msg string, args ...any) {
	if w, ok := l.(interface{ Warn(string, ...any) }); ok {
		w.Warn(msg, args...)
		return
	}
	l.Info(msg, args...)
}

// Backend chooses how sandboxes are built.
type Backend int

const (
	BackendAuto Backend = C.MSB_BACKEND_AUTO // the best this host offers
	BackendOS   Backend = C.MSB_BACKEND_OS   // namespaces + seccomp + cgroups
	BackendVM   Backend = C.MSB_BACKEND_VM   // a KVM microVM (needs VT-x/AMD-V)
)

// Trust says how far the code to run is trusted; it steers BackendAuto.
type Trust int

const (
	TrustDefault   Trust = C.MSB_TRUST_DEFAULT   // vm when this host can run one, else os
	TrustUntrusted Trust = C.MSB_TRUST_UNTRUSTED // vm, or fail closed (see WithAllowFallback)
	TrustTrusted   Trust = C.MSB_TRUST_TRUSTED   // os: the cheaper isolation is enough
)

func (b Backend) String() string { return C.GoString(C.msb_backend_name(C.msb_backend(b))) }

// Option configures a sandbox; options apply in order.
type Option func(*config)

type config struct {
	name      string
	logger    Logger
	backend   Backend
	trust     Trust
	fallback  bool
	rootfs    string
	hostname  string
	pids      int64
	disk      int64
	timeout   time.Duration
	detached  bool
	optErrors []error // options that cannot be honoured, reported by Start
}

const defaultNameTemplate = "sandbox-%08x" // as the reference SDK

// WithName sets the sandbox's name (1 to 128 characters; a detached sandbox
// needs 1 to 63 letters, digits, '.', '_' or '-'). Default: "sandbox-"
// and 8 random hex digits, as the reference SDK.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithLogger sets the logger (default: NoOpLogger). Pass a *slog.Logger
// directly, or NewSlogLogger(l).
func WithLogger(l Logger) Option {
	return func(c *config) {
		if l == nil {
			l = NoOpLogger{}
		}
		c.logger = l
	}
}

// WithBackend chooses the backend (default BackendAuto).
func WithBackend(b Backend) Option { return func(c *config) { c.backend = b } }

// WithTrust says how far the code is trusted (default TrustDefault): with
// BackendAuto, untrusted code runs only in a microVM, and Start fails when
// this host cannot run one, unless WithAllowFallback.
func WithTrust(t Trust) Option { return func(c *config) { c.trust = t } }

// WithAllowFallback lets BackendAuto run untrusted code in the os backend
// when this host cannot run a microVM.
func WithAllowFallback() Option { return func(c *config) { c.fallback = true } }

// WithRootfs uses a host directory holding a root filesystem (usr, bin, lib,
// etc) instead of the host's own system directories.
func WithRootfs(dir string) Option { return func(c *config) { c.rootfs = dir } }

// WithHostname sets the hostname inside (default: the sandbox's name, cut
// to 63 characters); StartConfig.Hostname, when set, wins. At most 63
// letters, digits and '-' in dot-separated labels (RFC 1123); Start
// refuses a bad one with an *Error with CodeInvalid.
func WithHostname(name string) Option { return func(c *config) { c.hostname = name } }

// WithPids limits the number of processes (default 512).
func WithPids(n int64) Option { return func(c *config) { c.pids = n } }

// WithDisk sets the size of the writable area (/tmp, /workspace, /root) in
// bytes (default 512 MiB).
func WithDisk(bytes int64) Option { return func(c *config) { c.disk = bytes } }

// WithTimeout limits the sandbox's wall time (default: none).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithDetached makes the sandbox outlive this process under its name (set
// one with WithName): Close only disconnects, Stop ends it, and Connect
// finds it again.
func WithDetached() Option { return func(c *config) { c.detached = true } }

// WithServerUrl exists for source compatibility with the reference SDK.
// libmsb has no server: Start fails with a *ConfigError naming it.
func WithServerUrl(string) Option {
	return func(c *config) {
		c.optErrors = append(c.optErrors, &ConfigError{Field: "WithServerUrl",
			Reason: "libmsb starts sandboxes in-process; there is no server to talk to",
			Hint:   "remove the option", Unsupported: true})
	}
}

// WithApiKey exists for source compatibility with the reference SDK. libmsb
// has no server: Start fails with a *ConfigError naming it.
func WithApiKey(string) Option {
	return func(c *config) {
		c.optErrors = append(c.optErrors, &ConfigError{Field: "WithApiKey",
			Reason: "libmsb starts sandboxes in-process; there is no server to authenticate to",
			Hint:   "remove the option", Unsupported: true})
	}
}

func newConfig(opts []Option) config {
	c := config{logger: NoOpLogger{}}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.name == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Errorf("%w: %w", ErrFailedToGenerateRandomName, err))
		}
		c.name = fmt.Sprintf(defaultNameTemplate, b[:])
	}
	return c
}

// background is context.Background, named for the fast paths.
var background = context.Background()
