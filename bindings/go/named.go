package msb

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// SandboxInfo describes a named (detached) sandbox.
type SandboxInfo struct {
	Name    string
	Status  string // "running", or "exited" for a stale entry
	Backend Backend
	Created time.Time
	PID     int64 // the host pid of its agent, 0 if gone
}

// List returns this user's named sandboxes (see WithDetached), by name.
func List() ([]SandboxInfo, error) {
	var l *C.msb_sandbox_list
	var e cerr
	if rc := C.msbgo_sandbox_list_all(&l, &e); rc != 0 {
		return nil, toError(rc, &e, "sandbox list")
	}
	defer C.msb_sandbox_list_free(l)
	var out []SandboxInfo
	if l.len > 0 {
		for _, it := range unsafe.Slice(l.items, int(l.len)) {
			out = append(out, SandboxInfo{Name: C.GoString(it.name),
				Status:  C.GoString(C.msb_status_name(it.status)),
				Backend: Backend(it.backend), Created: time.UnixMilli(int64(it.created_ms)),
				PID: int64(it.pid)})
		}
	}
	return out, nil
}

func withName(op, name string, fn func(*C.char, *cerr) C.int) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var e cerr
	if rc := fn(cn, &e); rc != 0 {
		return toError(rc, &e, op)
	}
	return nil
}

// Kill kills a named sandbox at once, wherever it runs.
func Kill(name string) error {
	return withName("sandbox kill", name, func(n *C.char, e *cerr) C.int { return C.msbgo_sandbox_kill(n, e) })
}

// Remove removes a named sandbox's entry (an *Error with CodeState while it
// runs).
func Remove(name string) error {
	return withName("sandbox remove", name, func(n *C.char, e *cerr) C.int { return C.msbgo_sandbox_remove(n, e) })
}

// Connect attaches to a running named sandbox. lang is the language its
// Code() runs. Close disconnects; Stop ends the sandbox.
func Connect(name string, lang Language, options ...Option) (*Sandbox, error) {
	if lang != LanguagePython && lang != LanguageNode && lang != LanguageShell {
		return nil, fmt.Errorf("msb: connect: %w", ErrUnknownLanguage)
	}
	var h *C.msb_sandbox
	err := withName("sandbox connect", name, func(n *C.char, e *cerr) C.int {
		return C.msbgo_sandbox_connect(&h, n, e)
	})
	if err != nil {
		return nil, err
	}
	s := &Sandbox{lang: lang, cfg: newConfig(append(options, WithName(name), WithDetached()))}
	s.cond.L = &s.mu
	s.h = h
	s.state = stateRunning
	runtime.SetFinalizer(s, (*Sandbox).finalize)
	return s, nil
}

// HostInfo is what this host offers.
type HostInfo struct {
	UserNamespaces   bool
	CgroupVersion    int // 0 none, 1 v1, 2 pure v2
	CgroupHybrid     bool
	CgroupWritable   bool // this process can create sandbox cgroups
	Seccomp          bool
	KVM              bool
	KVMStandardGuest bool
	AutoBackend      Backend // what BackendAuto picks
	KVMDetail        string
}

// ProbeHost reports what this host offers.
func ProbeHost() (HostInfo, error) {
	var hi C.msb_host_info
	hi.version = C.MSB_HOST_INFO_VERSION
	var e cerr
	if rc := C.msbgo_host_probe(&hi, &e); rc != 0 {
		return HostInfo{}, toError(rc, &e, "host probe")
	}
	return HostInfo{
		UserNamespaces: hi.user_namespaces != 0, CgroupVersion: int(hi.cgroup_version),
		CgroupHybrid: hi.cgroup_hybrid != 0, CgroupWritable: hi.cgroup_writable != 0,
		Seccomp: hi.seccomp != 0, KVM: hi.kvm != 0, KVMStandardGuest: hi.kvm_standard_guest != 0,
		AutoBackend: Backend(hi.auto_backend),
		KVMDetail:   C.GoString(&hi.kvm_detail[0]),
	}, nil
}
