package msb

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"math"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Language is a REPL language.
type Language int

const (
	LanguagePython Language = C.MSB_LANG_PYTHON
	LanguageNode   Language = C.MSB_LANG_NODE // JavaScript on Node.js
	LanguageShell  Language = C.MSB_LANG_SHELL
)

// String is the name GetLanguage reports: "python", "nodejs" (as the
// reference SDK) or "shell".
func (l Language) String() string {
	switch l {
	case LanguagePython:
		return "python"
	case LanguageNode:
		return "nodejs"
	case LanguageShell:
		return "shell"
	}
	return "unknown"
}

func (l Language) defaultImage() string {
	switch l {
	case LanguagePython:
		return "microsandbox/python"
	case LanguageNode:
		return "microsandbox/node"
	}
	return ""
}

// StartConfig holds the configuration for starting a sandbox: the reference
// SDK's fields, with what libmsb does with each.
type StartConfig struct {
	// Image: libmsb has no image store; sandboxes run on the host's system
	// directories (read-only), or on WithRootfs(dir). Only "" and the
	// reference's default image for the sandbox's language
	// ("microsandbox/python", "microsandbox/node", optionally ":latest")
	// are accepted; anything else is a *ConfigError.
	Image string
	// Memory limit in MiB; <= 0 means 512.
	Memory int
	// CPU limit; <= 0 means 1.
	CPUs int
	// Volumes: "HOST:SANDBOX" or "HOST:SANDBOX:ro" (or ":rw"), HOST an
	// existing absolute host path, SANDBOX an absolute sandbox path.
	Volumes []string
	// Ports: not supported (sandboxes have loopback only); non-empty is a
	// *ConfigError.
	Ports []string
	// Envs: "KEY=VALUE" pairs added to the sandbox's environment.
	Envs []string
	// DependsOn: not supported (there is no orchestrator); non-empty is a
	// *ConfigError.
	DependsOn []string
	// Workdir: the working directory (default /workspace).
	Workdir string
	// Hostname: the hostname inside, at most 63 letters, digits and '-' in
	// dot-separated labels (RFC 1123), such as "web-1". Default: the one
	// WithHostname set, else the sandbox's name cut to 63 characters. A bad
	// one is an *Error with CodeInvalid.
	Hostname string
	// Shell: an absolute path; the program OpenPTY runs by default
	// (otherwise bash, else sh).
	Shell string
	// Scripts: not supported; non-empty is a *ConfigError.
	Scripts map[string]string
	// Exec: not supported (run it with StartProcess after Start); non-empty
	// is a *ConfigError.
	Exec string
}

type sbState int

const (
	stateNew sbState = iota
	stateStarting
	stateRunning
	stateStopping
	stateStopped
	stateClosed
)

// Sandbox is a sandbox for one language (that of Code()). Create it with
// NewPythonSandbox or NewNodeSandbox, then Start it. All methods are safe
// for concurrent use. A sandbox can be started again after Stop (a fresh
// one, with the same name).
type Sandbox struct {
	lang Language
	cfg  config

	mu    sync.Mutex
	cond  sync.Cond
	state sbState
	h     *C.msb_sandbox
	users int // calls in flight on h
	shell string
	procs map[*processCore]struct{}
	stopE error // the result of the stop in progress, for concurrent Stops
}

// NewPythonSandbox creates a Python sandbox; Start it before use.
func NewPythonSandbox(options ...Option) *Sandbox {
	return newSandbox(LanguagePython, options)
}

// NewNodeSandbox creates a Node.js sandbox; Start it before use.
func NewNodeSandbox(options ...Option) *Sandbox {
	return newSandbox(LanguageNode, options)
}

func newSandbox(lang Language, options []Option) *Sandbox {
	s := &Sandbox{lang: lang, cfg: newConfig(options)}
	s.cond.L = &s.mu
	runtime.SetFinalizer(s, (*Sandbox).finalize)
	return s
}

// Name is the sandbox's name.
func (s *Sandbox) Name() string { return s.cfg.name }

// Language is the language Code() runs.
func (s *Sandbox) Language() Language { return s.lang }

// Start creates and starts the sandbox; it returns once the agent inside is
// ready. Errors wrap ErrFailedToStartSandbox and the cause (*ConfigError or
// *Error).
func (s *Sandbox) Start(cfg StartConfig) error {
	s.mu.Lock()
	switch s.state {
	case stateClosed:
		s.mu.Unlock()
		return ErrClosed
	case stateStarting, stateRunning, stateStopping:
		s.mu.Unlock()
		return ErrSandboxAlreadyStarted
	}
	s.state = stateStarting
	s.mu.Unlock()

	h, err := s.start(cfg)

	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.cond.Broadcast()
	if err != nil {
		s.state = stateNew
		s.cfg.logger.Error("Failed to start sandbox", "name", s.cfg.name, "error", err)
		return fmt.Errorf("%w: %w", ErrFailedToStartSandbox, err)
	}
	s.h = h
	s.shell = cfg.Shell
	s.state = stateRunning
	return nil
}

func (s *Sandbox) start(cfg StartConfig) (*C.msb_sandbox, error) {
	if len(s.cfg.optErrors) > 0 {
		return nil, s.cfg.optErrors[0]
	}
	if cfg.Memory <= 0 {
		cfg.Memory = 512
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = 1
	}
	vols, err := checkStartConfig(s.lang, &cfg)
	if err != nil {
		return nil, err
	}
	s.cfg.logger.Info("Starting sandbox", "name", s.cfg.name, "memory", cfg.Memory,
		"cpus", cfg.CPUs, "backend", s.cfg.backend.String())

	hostname := cfg.Hostname
	if hostname == "" {
		hostname = s.cfg.hostname
	}
	size := strSize(s.cfg.name) + strvSize(cfg.Envs) + optstrSize(cfg.Workdir) +
		optstrSize(s.cfg.rootfs) + optstrSize(hostname) + uintptr(len(vols))*unsafe.Sizeof(C.msb_volume{}) + ptrSize
	for _, v := range vols {
		size += strSize(v.host) + strSize(v.sandbox)
	}
	a := newArena(size)
	defer a.free()

	var o C.msb_sandbox_options
	C.msb_sandbox_options_init(&o, C.MSB_SANDBOX_OPTIONS_VERSION)
	o.backend = C.msb_backend(s.cfg.backend)
	o.trust = C.msb_trust(s.cfg.trust)
	if s.cfg.fallback {
		o.allow_fallback = 1
	}
	o.name = a.str(s.cfg.name)
	o.memory_bytes = C.int64_t(int64(cfg.Memory) << 20)
	o.cpus = C.double(cfg.CPUs)
	o.pids = C.int64_t(s.cfg.pids)
	o.disk_bytes = C.int64_t(s.cfg.disk)
	o.timeout_ms = C.int64_t(durationMS(s.cfg.timeout))
	if len(cfg.Envs) > 0 {
		o.env = a.strv(cfg.Envs)
	}
	o.workdir = a.optstr(cfg.Workdir)
	o.rootfs = a.optstr(s.cfg.rootfs)
	o.hostname = a.optstr(hostname)
	if s.cfg.detached {
		o.detached = 1
	}
	if len(vols) > 0 {
		cv := unsafe.Slice((*C.msb_volume)(a.alloc(uintptr(len(vols))*unsafe.Sizeof(C.msb_volume{}), ptrSize)), len(vols))
		for i, v := range vols {
			cv[i].host_path = a.str(v.host)
			cv[i].sandbox_path = a.str(v.sandbox)
			if v.ro {
				cv[i].read_only = 1
			}
		}
		o.volumes = &cv[0]
		o.volumes_len = C.size_t(len(vols))
	}

	var e cerr
	var h *C.msb_sandbox
	if rc := C.msbgo_sandbox_create(&h, &o, &e); rc != 0 {
		return nil, toError(rc, &e, "sandbox create")
	}
	if rc := C.msbgo_sandbox_start(h, &e); rc != 0 {
		err := toError(rc, &e, "sandbox start")
		C.msb_sandbox_free(h)
		return nil, err
	}
	s.cfg.logger.Info("Sandbox started successfully", "name", s.cfg.name,
		"backend", Backend(C.msb_sandbox_backend(h)).String())
	for _, l := range []struct {
		lim  C.msb_limit
		name string
	}{{C.MSB_LIMIT_MEMORY, "memory"}, {C.MSB_LIMIT_CPU, "cpu"}, {C.MSB_LIMIT_PIDS, "pids"}} {
		if enf := C.msb_sandbox_enforcement(h, l.lim); enf != C.MSB_ENFORCE_CGROUP && enf != C.MSB_ENFORCE_KERNEL {
			logWarn(s.cfg.logger, "Sandbox limit weakly enforced", "name", s.cfg.name,
				"limit", l.name, "enforcement", C.GoString(C.msb_enforcement_name(enf)))
		}
	}
	return h, nil
}

type volume struct {
	host, sandbox string
	ro            bool
}

func unsupported(field, reason, hint string) error {
	return &ConfigError{Field: "StartConfig." + field, Reason: reason, Hint: hint, Unsupported: true}
}

func invalid(field, reason, hint string) error {
	return &ConfigError{Field: "StartConfig." + field, Reason: reason, Hint: hint}
}

// checkStartConfig rejects what libmsb cannot honour, naming the field.
func checkStartConfig(lang Language, cfg *StartConfig) ([]volume, error) {
	if img := strings.TrimSuffix(cfg.Image, ":latest"); img != "" && img != lang.defaultImage() {
		return nil, unsupported("Image", fmt.Sprintf("%q: libmsb has no image store; sandboxes run on the host's system directories", cfg.Image),
			"leave Image empty, or use WithRootfs(dir) for a root filesystem in a host directory")
	}
	if len(cfg.Ports) > 0 {
		return nil, unsupported("Ports", "sandboxes have no network (loopback only), so no port can be exposed", "leave Ports empty")
	}
	if len(cfg.DependsOn) > 0 {
		return nil, unsupported("DependsOn", "libmsb has no orchestrator to start sandboxes in order", "start the other sandboxes first yourself")
	}
	if len(cfg.Scripts) > 0 {
		return nil, unsupported("Scripts", "named scripts are not supported", "run them with Command().Run or StartProcess")
	}
	if cfg.Exec != "" {
		return nil, unsupported("Exec", "a start command is not supported", "run it with StartProcess after Start")
	}
	if cfg.Shell != "" && !path.IsAbs(cfg.Shell) {
		return nil, invalid("Shell", fmt.Sprintf("%q is not an absolute path", cfg.Shell), "give the shell's absolute path, e.g. /bin/bash")
	}
	if cfg.CPUs > 4096 {
		return nil, invalid("CPUs", fmt.Sprintf("%d is out of range", cfg.CPUs), "give 1 to 4096")
	}
	if int64(cfg.Memory) > math.MaxInt64>>20 {
		return nil, invalid("Memory", "too large", "give the limit in MiB")
	}
	for i, env := range cfg.Envs {
		if k, _, ok := strings.Cut(env, "="); !ok || k == "" {
			return nil, invalid(fmt.Sprintf("Envs[%d]", i), fmt.Sprintf("%q is not KEY=VALUE", env), "write it as KEY=VALUE")
		}
	}
	var vols []volume
	for i, v := range cfg.Volumes {
		parts := strings.Split(v, ":")
		vol := volume{}
		switch {
		case len(parts) == 2:
		case len(parts) == 3 && (parts[2] == "ro" || parts[2] == "rw"):
			vol.ro = parts[2] == "ro"
		default:
			return nil, invalid(fmt.Sprintf("Volumes[%d]", i), fmt.Sprintf("%q is not HOST:SANDBOX[:ro]", v), "write it as /host/dir:/sandbox/dir or /host/dir:/sandbox/dir:ro")
		}
		vol.host, vol.sandbox = parts[0], parts[1]
		if !path.IsAbs(vol.host) || !path.IsAbs(vol.sandbox) {
			return nil, invalid(fmt.Sprintf("Volumes[%d]", i), fmt.Sprintf("%q: both paths must be absolute", v), "write it as /host/dir:/sandbox/dir")
		}
		vols = append(vols, vol)
	}
	return vols, nil
}

// acquire pins the running sandbox's handle for one call.
func (s *Sandbox) acquire() (*C.msb_sandbox, error) {
	s.mu.Lock()
	if s.state != stateRunning {
		st := s.state
		s.mu.Unlock()
		if st == stateClosed {
			return nil, ErrClosed
		}
		return nil, ErrSandboxNotStarted
	}
	s.users++
	h := s.h
	s.mu.Unlock()
	return h, nil
}

func (s *Sandbox) release() {
	s.mu.Lock()
	s.users--
	if s.users == 0 {
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

// Stop stops the sandbox: every process inside is asked to terminate, and
// killed after a grace period (2 s). Commands in flight end with an error.
// Stop on a sandbox that was never started returns ErrSandboxNotStarted (as
// the reference); a second Stop returns nil. Background processes of the
// sandbox are released.
func (s *Sandbox) Stop() error {
	return s.teardown(true, stateStopped)
}

// Close releases the sandbox: it stops it (or, for a detached sandbox, only
// disconnects) and frees the handle. It is idempotent; after Close the
// sandbox cannot be started again.
func (s *Sandbox) Close() error {
	err := s.teardown(!s.cfg.detached, stateClosed)
	if err == ErrSandboxNotStarted {
		err = nil
	}
	runtime.SetFinalizer(s, nil)
	return err
}

// finalizedHook, when set (by tests), is called after a finalizer ran.
var finalizedHook atomic.Pointer[func(name string)]

func (s *Sandbox) finalize() {
	// Unreachable, so nothing is in flight. Freeing stops the sandbox
	// (with a short grace), so it is done off the finalizer goroutine.
	go func() {
		if s.h != nil {
			s.freeHandles()
		}
		if f := finalizedHook.Load(); f != nil && *f != nil {
			(*f)(s.cfg.name)
		}
	}()
}

func (s *Sandbox) teardown(stop bool, final sbState) error {
	s.mu.Lock()
	for s.state == stateStopping || s.state == stateStarting {
		s.cond.Wait()
	}
	switch s.state {
	case stateNew:
		if final == stateClosed {
			s.state = stateClosed
		}
		s.mu.Unlock()
		return ErrSandboxNotStarted
	case stateStopped, stateClosed:
		if final == stateClosed {
			s.state = stateClosed
		}
		s.mu.Unlock()
		return nil
	}
	s.state = stateStopping
	h := s.h
	s.mu.Unlock()

	var err error
	if stop {
		s.cfg.logger.Info("Stopping sandbox", "name", s.cfg.name)
		var e cerr
		if rc := C.msbgo_sandbox_stop(h, -1, &e); rc != 0 {
			err = fmt.Errorf("%w: %w", ErrFailedToStopSandbox, toError(rc, &e, "sandbox stop"))
		}
	}
	s.mu.Lock()
	for s.users > 0 {
		s.cond.Wait()
	}
	s.freeHandles()
	s.state = final
	s.cond.Broadcast()
	s.mu.Unlock()
	if err != nil {
		s.cfg.logger.Error("Failed to stop sandbox", "name", s.cfg.name, "error", err)
	} else if stop {
		s.cfg.logger.Info("Sandbox stopped successfully", "name", s.cfg.name)
	}
	return err
}

// freeHandles frees the processes and the sandbox; nothing may be in flight.
func (s *Sandbox) freeHandles() {
	for pc := range s.procs {
		pc.free()
	}
	s.procs = nil
	C.msb_sandbox_free(s.h)
	s.h = nil
}

// Status is the sandbox's status: "created" before Start, then "running",
// "stopped", or "exited" (ended on its own: wall-time limit, killed).
func (s *Sandbox) Status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateNew, stateStarting:
		return "created"
	case stateStopping, stateStopped, stateClosed:
		return "stopped"
	}
	return C.GoString(C.msb_status_name(C.msb_sandbox_status(s.h)))
}

// ExitReason says why a sandbox exited on its own ("" otherwise).
func (s *Sandbox) ExitReason() string {
	h, err := s.acquire()
	if err != nil {
		return ""
	}
	defer s.release()
	return C.GoString(C.msb_sandbox_exit_reason(h))
}

// Backend is the backend the running sandbox uses (BackendAuto before start).
func (s *Sandbox) Backend() Backend {
	h, err := s.acquire()
	if err != nil {
		return BackendAuto
	}
	defer s.release()
	return Backend(C.msb_sandbox_backend(h))
}

// BackendReason says why the sandbox runs on its backend, e.g.
// "auto: os (trusted code)" ("" before start).
func (s *Sandbox) BackendReason() string {
	h, err := s.acquire()
	if err != nil {
		return ""
	}
	defer s.release()
	return C.GoString(C.msb_sandbox_backend_reason(h))
}

// Enforcement says how each limit is enforced in the running sandbox:
// "cgroup", "kernel", "rlimit" (weaker, per process) or "none".
func (s *Sandbox) Enforcement() map[string]string {
	h, err := s.acquire()
	if err != nil {
		return nil
	}
	defer s.release()
	m := map[string]string{}
	for lim, name := range map[C.msb_limit]string{C.MSB_LIMIT_MEMORY: "memory",
		C.MSB_LIMIT_CPU: "cpu", C.MSB_LIMIT_PIDS: "pids", C.MSB_LIMIT_DISK: "disk",
		C.MSB_LIMIT_TIME: "time"} {
		m[name] = C.GoString(C.msb_enforcement_name(C.msb_sandbox_enforcement(h, lim)))
	}
	return m
}

func durationMS(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	ms := d.Milliseconds()
	if ms == 0 {
		ms = 1
	}
	return ms
}
