package msb

/*
#include "shim.h"
*/
import "C"

import (
	"io"
	"io/fs"
	"time"
	"unsafe"
)

// Files gives access to the sandbox's files. Paths are sandbox paths
// (relative ones are relative to the workdir); they never resolve outside
// the sandbox's root, whatever symlinks the sandbox plants.
type Files struct{ s *Sandbox }

// Files returns the sandbox's file operations.
func (s *Sandbox) Files() Files { return Files{s} }

// FileType is the type of a file in the sandbox.
type FileType int

const (
	FileRegular   FileType = C.MSB_FILE_REGULAR
	FileDirectory FileType = C.MSB_FILE_DIRECTORY
	FileSymlink   FileType = C.MSB_FILE_SYMLINK
	FileOther     FileType = C.MSB_FILE_OTHER // FIFO, socket, device
)

// FileInfo describes a file in the sandbox (a symlink is reported as one).
type FileInfo struct {
	Name    string // in ReadDir; "" from Stat
	Type    FileType
	Size    int64
	Mode    fs.FileMode // permission bits
	ModTime time.Time
}

// IsDir reports whether it is a directory.
func (fi FileInfo) IsDir() bool { return fi.Type == FileDirectory }

func fileInfo(st C.msb_file_stat) FileInfo {
	return FileInfo{Type: FileType(st._type), Size: int64(st.size), Mode: fs.FileMode(st.mode),
		ModTime: time.UnixMilli(int64(st.mtime_ms))}
}

// call pins the sandbox and gives f a C copy of the paths.
func (f Files) call(op string, paths []string, fn func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int) error {
	h, err := f.s.acquire()
	if err != nil {
		return err
	}
	defer f.s.release()
	var size uintptr
	for _, p := range paths {
		size += strSize(p)
	}
	a := newArena(size)
	defer a.free()
	cp := make([]*C.char, len(paths))
	for i, p := range paths {
		cp[i] = a.str(p)
	}
	var e cerr
	if rc := fn(h, cp, &e); rc != 0 {
		return toError(rc, &e, op)
	}
	return nil
}

// ReadFile reads a whole regular file, of at most 64 MiB.
func (f Files) ReadFile(path string) ([]byte, error) { return f.ReadFileLimit(path, 0) }

// ReadFileLimit reads a whole regular file; an *Error with CodeTooBig when
// it is larger than max bytes (0: 64 MiB).
func (f Files) ReadFileLimit(path string, max int64) ([]byte, error) {
	var data []byte
	err := f.call("file read", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		var b C.msb_buf
		rc := C.msbgo_file_read(&b, h, p[0], C.int64_t(max), e)
		if rc == 0 {
			data = goBytes(b)
			if data == nil {
				data = []byte{}
			}
			C.msb_buf_free(&b)
		}
		return rc
	})
	return data, err
}

type writerSink struct {
	w    io.Writer
	werr error
}

func (s *writerSink) output(_ int, data []byte) bool {
	if _, err := s.w.Write(data); err != nil {
		s.werr = err
		return false
	}
	return true
}

// ReadFileTo streams a file to w in chunks, up to max bytes (0: no cap).
func (f Files) ReadFileTo(path string, w io.Writer, max int64) error {
	sink := &writerSink{w: w}
	cb, hd := newCallback(sink)
	defer cb.done(hd)
	err := f.call("file read", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_read_stream(h, p[0], C.int64_t(max), C.uintptr_t(hd), e)
	})
	if sink.werr != nil {
		return sink.werr
	}
	return err
}

func (f Files) write(path string, data []byte, flags C.int, perm fs.FileMode) error {
	return f.call("file write", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		var cp unsafe.Pointer
		if len(data) > 0 {
			cp = C.CBytes(data)
			defer C.free(cp)
		}
		return C.msbgo_file_write(h, p[0], cp, C.size_t(len(data)), flags, C.uint(perm.Perm()), e)
	})
}

// WriteFile creates or truncates a file (perm applies when it is created;
// 0: 0644; setuid/setgid bits are refused).
func (f Files) WriteFile(path string, data []byte, perm fs.FileMode) error {
	return f.write(path, data, C.MSB_WRITE_TRUNCATE, perm)
}

// AppendFile creates a file or appends to it.
func (f Files) AppendFile(path string, data []byte, perm fs.FileMode) error {
	return f.write(path, data, C.MSB_WRITE_APPEND, perm)
}

// CreateFile creates a file that must not exist (an *Error matching
// fs.ErrExist otherwise).
func (f Files) CreateFile(path string, data []byte, perm fs.FileMode) error {
	return f.write(path, data, C.MSB_WRITE_EXCL, perm)
}

// Stat describes path itself.
func (f Files) Stat(path string) (FileInfo, error) {
	var fi FileInfo
	err := f.call("file stat", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		var st C.msb_file_stat
		rc := C.msbgo_file_stat(&st, h, p[0], e)
		fi = fileInfo(st)
		return rc
	})
	return fi, err
}

// Exists reports whether something is at path (a dangling symlink counts).
func (f Files) Exists(path string) (bool, error) {
	var ok C.int
	err := f.call("file exists", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_exists(&ok, h, p[0], e)
	})
	return ok != 0, err
}

// ReadDir lists a directory, sorted by name.
func (f Files) ReadDir(path string) ([]FileInfo, error) {
	var out []FileInfo
	err := f.call("file list", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		var l *C.msb_dir_list
		rc := C.msbgo_file_list(&l, h, p[0], e)
		if rc == 0 {
			if l.len > 0 {
				for _, de := range unsafe.Slice(l.entries, int(l.len)) {
					fi := fileInfo(de.stat)
					fi.Name = C.GoString(de.name)
					out = append(out, fi)
				}
			}
			C.msb_dir_list_free(l)
		}
		return rc
	})
	return out, err
}

// Mkdir creates a directory (perm 0: 0755).
func (f Files) Mkdir(path string, perm fs.FileMode) error {
	return f.call("mkdir", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_mkdir(h, p[0], C.uint(perm.Perm()), 0, e)
	})
}

// MkdirAll creates a directory and its parents, like mkdir -p.
func (f Files) MkdirAll(path string, perm fs.FileMode) error {
	return f.call("mkdir", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_mkdir(h, p[0], C.uint(perm.Perm()), 1, e)
	})
}

// Remove removes a file or an empty directory.
func (f Files) Remove(path string) error {
	return f.call("remove", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_remove(h, p[0], 0, e)
	})
}

// RemoveAll removes a whole tree (symlinks are removed, never followed).
func (f Files) RemoveAll(path string) error {
	return f.call("remove", []string{path}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_remove(h, p[0], 1, e)
	})
}

// Rename renames within one file system (/tmp, /workspace and /root are
// separate ones).
func (f Files) Rename(from, to string) error {
	return f.call("rename", []string{from, to}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_rename(h, p[0], p[1], e)
	})
}

// CopyIn copies a regular host file into the sandbox.
func (f Files) CopyIn(hostPath, sandboxPath string) error {
	return f.call("copy in", []string{hostPath, sandboxPath}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_copy_in(h, p[0], p[1], e)
	})
}

// CopyOut copies a sandbox file out to the host.
func (f Files) CopyOut(sandboxPath, hostPath string) error {
	return f.call("copy out", []string{sandboxPath, hostPath}, func(h *C.msb_sandbox, p []*C.char, e *cerr) C.int {
		return C.msbgo_file_copy_out(h, p[0], p[1], e)
	})
}
