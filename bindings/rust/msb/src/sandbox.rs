//! [`Sandbox`]: the primary entry point.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use msb_sys as sys;

use crate::config::{Config, IsolationLevel, NetworkPolicy, TrustLevel};
use crate::error::{check, last_error, ErrorCode, Op, SdkError};
use crate::types::{
    DirEntry, ExecOptions, ExecuteResult, FileStat, FileType, Metrics, SandboxSnapshot,
    StreamEvent,
};

/// The libmsb handle. Freed (which stops the sandbox) when the last owner
/// — the `Sandbox`, a streaming thread, a `PtySession` — lets go of it, so
/// `msb_sandbox_free` never races with another call on the handle.
pub(crate) struct Inner {
    ptr: NonNull<sys::msb_sandbox>,
}

// SAFETY: msb.h: "An msb_sandbox may be used from any thread, and from
// several threads at once (commands run concurrently). msb_sandbox_free()
// must not race with other calls on the same handle." Every call goes
// through a shared `Arc<Inner>`, and free runs only in `Drop`, once no other
// reference exists.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

impl Inner {
    pub(crate) fn raw(&self) -> *mut sys::msb_sandbox {
        self.ptr.as_ptr()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: the handle came from msb_sandbox_create and is freed once.
        unsafe { sys::msb_sandbox_free(self.ptr.as_ptr()) }
    }
}

// ---------------------------------------------------------------------------
// C strings and arrays kept alive for the duration of a call

pub(crate) fn cstring(s: &str, what: &str) -> Result<CString, SdkError> {
    CString::new(s).map_err(|_| SdkError::config(format!("{} contains a NUL byte", what)))
}

/// A NULL-terminated `char *[]` and the strings it points to.
pub(crate) struct CArray {
    _strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CArray {
    pub(crate) fn new<I, S>(items: I, what: &str) -> Result<Self, SdkError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let strings = items
            .into_iter()
            .map(|s| cstring(s.as_ref(), what))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(ptr::null());
        Ok(CArray {
            _strings: strings,
            ptrs,
        })
    }

    pub(crate) fn env(vars: &[(String, String)]) -> Result<Option<Self>, SdkError> {
        if vars.is_empty() {
            return Ok(None);
        }
        for (k, _) in vars {
            if k.is_empty() || k.contains('=') {
                return Err(SdkError::config(format!(
                    "bad environment variable name {:?}",
                    k
                )));
            }
        }
        CArray::new(vars.iter().map(|(k, v)| format!("{}={}", k, v)), "environment").map(Some)
    }

    pub(crate) fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

pub(crate) fn opt_ptr(a: &Option<CArray>) -> *const *const c_char {
    a.as_ref().map_or(ptr::null(), |a| a.as_ptr())
}

pub(crate) fn opt_cstr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// Milliseconds for libmsb, rounding a non-zero duration up to 1 ms (0
/// would mean "no limit").
pub(crate) fn millis(d: Option<Duration>) -> i64 {
    match d {
        None => 0,
        Some(d) if d.is_zero() => 0,
        Some(d) => (d.as_millis().min(i64::MAX as u128) as i64).max(1),
    }
}

/// Copies an msb_buf's bytes (it may be {NULL, 0}).
pub(crate) unsafe fn buf_vec(b: &sys::msb_buf) -> Vec<u8> {
    if b.ptr.is_null() || b.len == 0 {
        Vec::new()
    } else {
        std::slice::from_raw_parts(b.ptr, b.len).to_vec()
    }
}

pub(crate) unsafe fn cstr_string(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Exit code, or 128 + signal, as a shell reports it.
pub(crate) fn status_of(r: &sys::msb_command_result) -> i32 {
    if r.signal != 0 {
        128 + r.signal
    } else {
        r.exit_code
    }
}

/// Copies a command result and frees it.
unsafe fn take_result(r: *mut sys::msb_command_result) -> ExecuteResult {
    let res = &*r;
    let out = ExecuteResult::new(
        buf_vec(&res.out),
        buf_vec(&res.err),
        if res.signal != 0 || res.exit_code < 0 {
            None
        } else {
            Some(res.exit_code)
        },
        res.timed_out != 0,
        Duration::from_micros(res.elapsed_us),
    );
    sys::msb_command_result_free(r);
    out
}

/// A command's options with the memory they point to, ready to be handed
/// to libmsb from any thread.
struct CommandSpec {
    argv: CArray,
    env: Option<CArray>,
    cwd: Option<CString>,
    stdin: Option<Vec<u8>>,
    timeout_ms: i64,
    output_cap: i64,
}

// SAFETY: the raw pointers in CArray point into heap memory the spec owns;
// nothing else refers to it.
unsafe impl Send for CommandSpec {}

impl CommandSpec {
    fn new<S: AsRef<str>>(
        argv: &[S],
        opts: &ExecOptions,
        config: &Config,
    ) -> Result<Self, SdkError> {
        if argv.is_empty() || argv[0].as_ref().is_empty() {
            return Err(SdkError::config("empty command"));
        }
        let output_cap = match opts.output_cap {
            None => 0,
            Some(0) => return Err(SdkError::config("output_cap must be at least 1")),
            Some(n) => n.min(i64::MAX as u64) as i64,
        };
        Ok(CommandSpec {
            argv: CArray::new(argv, "command argument")?,
            env: CArray::env(&opts.env)?,
            cwd: opts.cwd.as_deref().map(|c| cstring(c, "cwd")).transpose()?,
            stdin: opts.stdin.clone(),
            timeout_ms: millis(opts.timeout.or(config.timeout)),
            output_cap,
        })
    }

    fn options(&self) -> Result<sys::msb_command_options, SdkError> {
        let mut o = sys::msb_command_options::default();
        // SAFETY: o is a valid msb_command_options to fill.
        check(
            unsafe { sys::msb_command_options_init(&mut o, sys::MSB_COMMAND_OPTIONS_VERSION) },
            Op::Exec,
        )?;
        o.argv = self.argv.as_ptr();
        o.env = opt_ptr(&self.env);
        o.cwd = opt_cstr(&self.cwd);
        if let Some(s) = &self.stdin {
            o.stdin_data = s.as_ptr() as *const c_void;
            o.stdin_len = s.len();
        }
        o.timeout_ms = self.timeout_ms;
        o.output_cap = self.output_cap;
        Ok(o)
    }
}

pub(crate) fn parse_command(command: &str) -> Result<Vec<String>, SdkError> {
    let words = crate::shlex::split(command).ok_or_else(|| {
        SdkError::Config("command parsing failed: mismatched shell-style quotes".to_string())
    })?;
    if words.is_empty() {
        return Err(SdkError::config("empty command"));
    }
    Ok(words)
}

pub(crate) fn code_argv(language: &str, code: &str) -> Result<Vec<String>, SdkError> {
    let (prog, flag) = match language {
        "bash" => ("bash", "-c"),
        "sh" | "shell" => ("sh", "-c"),
        "python" | "python3" | "py" => ("python3", "-c"),
        "javascript" | "js" | "node" | "nodejs" => ("node", "-e"),
        _ => {
            return Err(SdkError::sandbox(
                ErrorCode::InvalidConfig,
                format!("unsupported language: {}", language),
                Some(
                    "Supported: bash, sh, shell, python, python3, py, javascript, js, node, nodejs"
                        .to_string(),
                ),
            ))
        }
    };
    Ok(vec![prog.to_string(), flag.to_string(), code.to_string()])
}

fn unsupported_snapshot(what: &str) -> SdkError {
    SdkError::sandbox(
        ErrorCode::UnsupportedPlatform,
        format!(
            "{} needs the microVM backend, which libmsb does not have yet",
            what
        ),
        Some("run without snapshots for now: create a fresh Sandbox instead".to_string()),
    )
}

fn file_type(t: sys::msb_file_type) -> FileType {
    match t {
        sys::MSB_FILE_REGULAR => FileType::File,
        sys::MSB_FILE_DIRECTORY => FileType::Dir,
        sys::MSB_FILE_SYMLINK => FileType::Symlink,
        _ => FileType::Other,
    }
}

fn mtime(ms: i64) -> Option<u64> {
    if ms > 0 {
        Some(ms as u64)
    } else {
        None
    }
}

fn path_str<'a>(p: &'a Path, what: &str) -> Result<&'a str, SdkError> {
    p.to_str()
        .ok_or_else(|| SdkError::config(format!("{} {:?} is not valid UTF-8", what, p)))
}

/// Primary entry point for all sandbox operations.
///
/// A `Sandbox` is one libmsb sandbox, started when it is created and
/// stopped when it is destroyed or dropped. It is `Send + Sync`: several
/// threads may run commands in one sandbox at once (libmsb multiplexes
/// them), which is why the methods take `&self`.
///
/// ```
/// use msb::Sandbox;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sandbox = Sandbox::new()?;
/// let result = sandbox.execute("/bin/echo hello")?;
/// println!("exit: {:?}", result.exit_code);
/// sandbox.destroy()?;
/// # Ok(())
/// # }
/// ```
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
    config: Config,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("name", &self.name())
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Creates and starts a sandbox with the default configuration.
    pub fn new() -> Result<Self, SdkError> {
        Sandbox::with_config(Config::default())
    }

    /// Creates and starts a sandbox with this configuration.
    pub fn with_config(config: Config) -> Result<Self, SdkError> {
        match &config.network {
            NetworkPolicy::DenyAll => {}
            other => {
                return Err(SdkError::sandbox(
                    ErrorCode::UnsupportedPlatform,
                    format!(
                        "network policy {:?} is not available: libmsb sandboxes have no network (loopback only)",
                        other
                    ),
                    Some("use NetworkPolicy::DenyAll".to_string()),
                ))
            }
        }
        let backend = match config.isolation {
            IsolationLevel::Auto => sys::MSB_BACKEND_AUTO,
            IsolationLevel::Os => sys::MSB_BACKEND_OS,
            IsolationLevel::MicroVm => sys::MSB_BACKEND_VM,
        };
        // libmsb routes Auto by trust: untrusted code fails closed
        // without a microVM (no fallback is allowed here).
        let trust = match config.trust_level {
            TrustLevel::Trusted => sys::MSB_TRUST_TRUSTED,
            TrustLevel::SemiTrusted => sys::MSB_TRUST_DEFAULT,
            TrustLevel::Untrusted => sys::MSB_TRUST_UNTRUSTED,
        };
        let mb = |v: Option<u64>, what: &str| -> Result<i64, SdkError> {
            match v {
                None => Ok(0),
                Some(0) => Err(SdkError::config(format!("{} must be at least 1 MiB", what))),
                Some(n) => n
                    .checked_mul(1 << 20)
                    .filter(|b| *b <= i64::MAX as u64)
                    .map(|b| b as i64)
                    .ok_or_else(|| SdkError::config(format!("{} is too large", what))),
            }
        };

        let name = config.name.as_deref().map(|n| cstring(n, "name")).transpose()?;
        let workdir = config
            .workdir
            .as_deref()
            .map(|w| cstring(w, "workdir"))
            .transpose()?;
        let hostname = config
            .hostname
            .as_deref()
            .map(|h| cstring(h, "hostname"))
            .transpose()?;
        let rootfs = match &config.rootfs {
            Some(p) => Some(cstring(path_str(p, "rootfs")?, "rootfs")?),
            None => None,
        };
        let env = CArray::env(&config.env_vars)?;

        // (host, sandbox, read-only)
        let mut mounts: Vec<(CString, CString, bool)> = Vec::new();
        for (paths, ro) in [(&config.fs_readonly, true), (&config.fs_readwrite, false)] {
            for p in paths.iter() {
                let abs: PathBuf = if p.is_absolute() {
                    p.clone()
                } else {
                    std::fs::canonicalize(p)?
                };
                let s = path_str(&abs, "path")?;
                mounts.push((cstring(s, "path")?, cstring(s, "path")?, ro));
            }
        }
        for (host, sandbox, ro) in &config.volumes {
            mounts.push((
                cstring(path_str(host, "volume host path")?, "volume host path")?,
                cstring(sandbox, "volume sandbox path")?,
                *ro,
            ));
        }
        let volumes: Vec<sys::msb_volume> = mounts
            .iter()
            .map(|(h, s, ro)| sys::msb_volume {
                host_path: h.as_ptr(),
                sandbox_path: s.as_ptr(),
                read_only: *ro as c_int,
            })
            .collect();

        let mut o = sys::msb_sandbox_options::default();
        // SAFETY: o is a valid struct to fill.
        check(
            unsafe { sys::msb_sandbox_options_init(&mut o, sys::MSB_SANDBOX_OPTIONS_VERSION) },
            Op::Create,
        )?;
        o.backend = backend;
        o.trust = trust;
        o.allow_fallback = 0;
        o.name = opt_cstr(&name);
        o.memory_bytes = mb(config.memory_limit_mb, "memory_limit_mb")?;
        o.cpus = config.cpu_limit.unwrap_or(0.0);
        o.pids = config.max_processes.map_or(0, |n| n as i64);
        o.disk_bytes = mb(config.disk_limit_mb, "disk_limit_mb")?;
        o.timeout_ms = millis(config.sandbox_timeout);
        o.env = opt_ptr(&env);
        o.workdir = opt_cstr(&workdir);
        o.network = sys::MSB_NETWORK_NONE;
        o.rootfs = opt_cstr(&rootfs);
        o.hostname = opt_cstr(&hostname);
        if !volumes.is_empty() {
            o.volumes = volumes.as_ptr();
            o.volumes_len = volumes.len();
        }

        let mut raw: *mut sys::msb_sandbox = ptr::null_mut();
        // SAFETY: o and everything it points to outlive the call; libmsb
        // copies the options.
        let rc = unsafe { sys::msb_sandbox_create(&mut raw, &o) };
        check(rc, Op::Create)?;
        let inner = Arc::new(Inner {
            ptr: NonNull::new(raw).ok_or_else(|| {
                SdkError::sandbox(
                    ErrorCode::Internal,
                    "msb_sandbox_create returned no handle",
                    None,
                )
            })?,
        });
        // SAFETY: a valid handle; on failure Inner's Drop frees it.
        let rc = unsafe { sys::msb_sandbox_start(inner.raw()) };
        check(rc, Op::Create)?;
        Ok(Sandbox { inner, config })
    }

    /// The libmsb handle, for `msb_sys` calls that the safe API does not
    /// cover. It stays valid while `self` lives; never free it.
    pub fn as_raw(&self) -> *mut sys::msb_sandbox {
        self.inner.raw()
    }

    /// The configuration the sandbox was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The sandbox's name.
    pub fn name(&self) -> String {
        // SAFETY: borrowed string that lives as long as the handle; copied.
        unsafe { cstr_string(sys::msb_sandbox_name(self.inner.raw())) }
    }

    /// The backend the sandbox runs on: "os" or "vm".
    pub fn backend_name(&self) -> String {
        // SAFETY: static strings.
        unsafe {
            cstr_string(sys::msb_backend_name(sys::msb_sandbox_backend(
                self.inner.raw(),
            )))
        }
    }

    /// Whether the sandbox still runs.
    pub fn is_running(&self) -> bool {
        // SAFETY: valid handle.
        unsafe { sys::msb_sandbox_status(self.inner.raw()) == sys::MSB_STATUS_RUNNING }
    }

    /// Resource usage (msb addition).
    pub fn metrics(&self) -> Result<Metrics, SdkError> {
        let mut m = sys::msb_metrics {
            version: sys::MSB_METRICS_VERSION,
            ..Default::default()
        };
        // SAFETY: valid handle and struct.
        check(
            unsafe { sys::msb_sandbox_metrics(&mut m, self.inner.raw()) },
            Op::Other,
        )?;
        Ok(Metrics {
            running: m.running != 0,
            cpu_percent: m.cpu_percent,
            memory_bytes: m.memory_bytes,
            disk_bytes: m.disk_bytes,
            pids: m.pids,
            uptime: Duration::from_millis(m.uptime_ms),
            host_memory_bytes: m.host_memory_bytes,
        })
    }

    // -----------------------------------------------------------------------
    // commands

    /// Runs a command line, split shell-style (quotes, backslashes; no
    /// expansion, no shell): `execute("/bin/echo 'a b'")` runs `/bin/echo`
    /// with one argument. Mismatched quotes are an `SdkError::Config`.
    ///
    /// A command that runs and fails is not an error: see `exit_code`. A
    /// program that does not exist is `ErrorCode::CommandNotFound`.
    pub fn execute(&self, command: &str) -> Result<ExecuteResult, SdkError> {
        let argv = parse_command(command)?;
        self.exec_with(&argv, &ExecOptions::default())
    }

    /// Runs a program with these arguments (no splitting, no shell).
    pub fn exec(&self, argv: &[&str]) -> Result<ExecuteResult, SdkError> {
        self.exec_with(argv, &ExecOptions::default())
    }

    /// Runs a program with per-command options: environment, cwd, stdin,
    /// timeout, output cap (msb addition).
    pub fn exec_with<S: AsRef<str>>(
        &self,
        argv: &[S],
        opts: &ExecOptions,
    ) -> Result<ExecuteResult, SdkError> {
        let spec = CommandSpec::new(argv, opts, &self.config)?;
        let o = spec.options()?;
        let mut r: *mut sys::msb_command_result = ptr::null_mut();
        // SAFETY: o points into spec, alive for the call.
        let rc = unsafe { sys::msb_command_run(&mut r, self.inner.raw(), &o) };
        check(rc, Op::Exec)?;
        // SAFETY: rc == 0: r is a result we own.
        Ok(unsafe { take_result(r) })
    }

    /// Runs code in a fresh interpreter: `bash`, `sh`/`shell`,
    /// `python`/`python3`/`py`, `javascript`/`js`/`node`/`nodejs`. For state
    /// that persists between runs, see [`Sandbox::repl_run`].
    pub fn execute_code(&self, language: &str, code: &str) -> Result<ExecuteResult, SdkError> {
        let argv = code_argv(language, code)?;
        self.exec_with(&argv, &ExecOptions::default())
    }

    /// Runs a command line (split as by [`Sandbox::execute`]) and streams its
    /// output as it comes. `Exit` or `TimedOut` is always the last event;
    /// dropping the receiver kills the command.
    pub fn stream_execute(&self, command: &str) -> Result<Receiver<StreamEvent>, SdkError> {
        let argv = parse_command(command)?;
        self.stream_exec_with(&argv, &ExecOptions::default())
    }

    /// As [`Sandbox::stream_execute`] with an argv and options (msb addition).
    pub fn stream_exec_with<S: AsRef<str>>(
        &self,
        argv: &[S],
        opts: &ExecOptions,
    ) -> Result<Receiver<StreamEvent>, SdkError> {
        let spec = CommandSpec::new(argv, opts, &self.config)?;
        let inner = Arc::clone(&self.inner);
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("msb-stream".to_string())
            .spawn(move || stream_thread(inner, spec, tx))?;
        Ok(rx)
    }

    // -----------------------------------------------------------------------
    // files

    /// Reads a whole file (up to 64 MiB; larger is `FileTooLarge`).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>, SdkError> {
        let p = cstring(path, "path")?;
        let mut b = sys::msb_buf::default();
        // SAFETY: valid handle, path and out buffer.
        let rc = unsafe { sys::msb_file_read(&mut b, self.inner.raw(), p.as_ptr(), 0) };
        check(rc, Op::File)?;
        // SAFETY: rc == 0: b is ours.
        unsafe {
            let v = buf_vec(&b);
            sys::msb_buf_free(&mut b);
            Ok(v)
        }
    }

    /// Writes a file (created 0644, or truncated).
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<(), SdkError> {
        let p = cstring(path, "path")?;
        // SAFETY: valid handle, path and data.
        let rc = unsafe {
            sys::msb_file_write(
                self.inner.raw(),
                p.as_ptr(),
                data.as_ptr() as *const c_void,
                data.len(),
                sys::MSB_WRITE_TRUNCATE as c_int,
                0,
            )
        };
        check(rc, Op::File)
    }

    /// Lists a directory, sorted by name, without `.` and `..`.
    pub fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, SdkError> {
        let p = cstring(path, "path")?;
        let mut l: *mut sys::msb_dir_list = ptr::null_mut();
        // SAFETY: valid handle and path.
        let rc = unsafe { sys::msb_file_list(&mut l, self.inner.raw(), p.as_ptr()) };
        check(rc, Op::File)?;
        // SAFETY: rc == 0: l is a list we own, of len entries.
        unsafe {
            let list = &*l;
            let entries = if list.entries.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(list.entries, list.len)
            };
            let v = entries
                .iter()
                .map(|e| {
                    let t = file_type(e.stat.type_);
                    DirEntry {
                        name: cstr_string(e.name),
                        file_type: t,
                        size: e.stat.size,
                        is_symlink: t == FileType::Symlink,
                        mode: e.stat.mode,
                        modified_ms: mtime(e.stat.mtime_ms),
                    }
                })
                .collect();
            sys::msb_dir_list_free(l);
            Ok(v)
        }
    }

    /// Information on a path (a symlink is reported as one).
    pub fn stat(&self, path: &str) -> Result<FileStat, SdkError> {
        let p = cstring(path, "path")?;
        let mut st = sys::msb_file_stat::default();
        // SAFETY: valid handle, path and out struct.
        let rc = unsafe { sys::msb_file_stat_path(&mut st, self.inner.raw(), p.as_ptr()) };
        check(rc, Op::File)?;
        let t = file_type(st.type_);
        Ok(FileStat {
            path: path.to_string(),
            is_dir: t == FileType::Dir,
            is_file: t == FileType::File,
            file_type: t,
            size: st.size,
            mode: st.mode,
            modified_ms: mtime(st.mtime_ms),
        })
    }

    /// Whether something exists at the path (a dangling symlink counts).
    pub fn file_exists(&self, path: &str) -> Result<bool, SdkError> {
        let p = cstring(path, "path")?;
        let mut out: c_int = 0;
        // SAFETY: valid handle, path and out int.
        let rc = unsafe { sys::msb_file_exists(&mut out, self.inner.raw(), p.as_ptr()) };
        check(rc, Op::File)?;
        Ok(out != 0)
    }

    /// Removes a file, a symlink or an empty directory.
    pub fn remove_file(&self, path: &str) -> Result<(), SdkError> {
        self.remove(path, false)
    }

    /// Removes a whole directory tree (symlinks are removed, never
    /// followed) (msb addition).
    pub fn remove_dir_all(&self, path: &str) -> Result<(), SdkError> {
        self.remove(path, true)
    }

    fn remove(&self, path: &str, recursive: bool) -> Result<(), SdkError> {
        let p = cstring(path, "path")?;
        // SAFETY: valid handle and path.
        let rc =
            unsafe { sys::msb_file_remove(self.inner.raw(), p.as_ptr(), recursive as c_int) };
        check(rc, Op::File)
    }

    /// Creates a directory and its missing parents (msb addition).
    pub fn make_dir(&self, path: &str) -> Result<(), SdkError> {
        let p = cstring(path, "path")?;
        // SAFETY: valid handle and path.
        let rc = unsafe { sys::msb_file_mkdir(self.inner.raw(), p.as_ptr(), 0, 1) };
        check(rc, Op::File)
    }

    /// Renames within one file system (/tmp, /workspace and /root are
    /// separate: across them it is `InvalidConfig`).
    pub fn rename(&self, from: &str, to: &str) -> Result<(), SdkError> {
        let f = cstring(from, "from")?;
        let t = cstring(to, "to")?;
        // SAFETY: valid handle and paths.
        let rc = unsafe { sys::msb_file_rename(self.inner.raw(), f.as_ptr(), t.as_ptr()) };
        check(rc, Op::File)
    }

    // -----------------------------------------------------------------------
    // snapshots (microVM only)

    /// Snapshots the sandbox's memory. Needs the microVM backend: until
    /// libmsb has it, `UnsupportedPlatform`.
    pub fn snapshot(&self) -> Result<SandboxSnapshot, SdkError> {
        Err(unsupported_snapshot("a sandbox snapshot"))
    }

    /// Restores a sandbox from a snapshot. Needs the microVM backend: until
    /// libmsb has it, `UnsupportedPlatform`.
    pub fn from_snapshot(_snapshot: &SandboxSnapshot) -> Result<Self, SdkError> {
        Err(unsupported_snapshot("restoring a snapshot"))
    }

    /// Forks the sandbox (copy-on-write snapshot and restore). Needs the
    /// microVM backend: until libmsb has it, `UnsupportedPlatform`.
    pub fn fork(&self) -> Result<Self, SdkError> {
        Err(unsupported_snapshot("forking a sandbox"))
    }

    // -----------------------------------------------------------------------

    /// Stops the sandbox (every process in it: asked to end, killed after
    /// 2 s) and releases it. Dropping a `Sandbox` does the same, but
    /// reports no error.
    pub fn destroy(self) -> Result<(), SdkError> {
        // SAFETY: valid handle; stop may run alongside other calls.
        let rc = unsafe { sys::msb_sandbox_stop(self.inner.raw(), -1) };
        check(rc, Op::Other)
    }
}

struct StreamPayload {
    tx: Sender<StreamEvent>,
}

unsafe extern "C" fn stream_cb(
    stream: c_int,
    data: *const u8,
    len: usize,
    payload: *mut c_void,
) -> c_int {
    // SAFETY: payload is the &StreamPayload passed with this callback, alive
    // for the whole msb_command_run_stream call; data holds len bytes.
    let p = &*(payload as *const StreamPayload);
    if data.is_null() || len == 0 {
        return 0;
    }
    let bytes = std::slice::from_raw_parts(data, len).to_vec();
    let ev = if stream == sys::MSB_STREAM_STDERR as c_int {
        StreamEvent::Stderr(bytes)
    } else {
        StreamEvent::Stdout(bytes)
    };
    // The receiver is gone: stop (libmsb kills the command).
    if p.tx.send(ev).is_err() {
        1
    } else {
        0
    }
}

fn stream_thread(inner: Arc<Inner>, spec: CommandSpec, tx: Sender<StreamEvent>) {
    let payload = StreamPayload { tx };
    let o = match spec.options() {
        Ok(o) => o,
        Err(e) => {
            let _ = payload.tx.send(StreamEvent::Stderr(format!("msb: {}\n", e).into_bytes()));
            let _ = payload.tx.send(StreamEvent::Exit(125));
            return;
        }
    };
    let mut r: *mut sys::msb_command_result = ptr::null_mut();
    // SAFETY: o points into spec, payload outlives the call, and the
    // callback runs on this thread during it.
    let rc = unsafe {
        sys::msb_command_run_stream(
            &mut r,
            inner.raw(),
            &o,
            Some(stream_cb),
            &payload as *const StreamPayload as *mut c_void,
        )
    };
    if rc != 0 {
        // copied at once, on the thread that made the call
        let e = last_error(rc, Op::Exec);
        if rc == sys::MSB_ECANCELED {
            return; // the receiver was dropped: nobody listens
        }
        let text = match e.hint() {
            Some(h) => format!("msb: {}\nhint: {}\n", e.message(), h),
            None => format!("msb: {}\n", e.message()),
        };
        let status = match rc {
            sys::MSB_ENOTFOUND => 127,
            sys::MSB_EPERM | sys::MSB_EINVAL => 126,
            _ => 125,
        };
        let _ = payload.tx.send(StreamEvent::Stderr(text.into_bytes()));
        let _ = payload.tx.send(StreamEvent::Exit(status));
        return;
    }
    // SAFETY: rc == 0: r is ours.
    let (timed_out, status) = unsafe {
        let res = &*r;
        let v = (res.timed_out != 0, status_of(res));
        sys::msb_command_result_free(r);
        v
    };
    let _ = payload.tx.send(if timed_out {
        StreamEvent::TimedOut
    } else {
        StreamEvent::Exit(status)
    });
}
