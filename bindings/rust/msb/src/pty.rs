//! [`PtySession`]: an interactive terminal session in a sandbox.

use std::os::raw::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use msb_sys as sys;

use crate::error::{check, last_error, ErrorCode, Op, SdkError};
use crate::sandbox::{buf_vec, cstring, parse_command, status_of, CArray, Inner, Sandbox};
use crate::types::{PtyConfig, PtyEvent, PtySize};

const SIGKILL: c_int = 9;
/// How often the reader looks at the stop flag and the deadline.
const POLL_MS: i64 = 200;
/// How long a dropped session's reader waits for the killed process to end.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The process handle, shared by the session and its reader thread.
struct Proc {
    ptr: NonNull<sys::msb_process>,
    // keeps the sandbox alive: "free [a process] before the sandbox"
    _sandbox: Arc<Inner>,
}

// SAFETY: an msb_process "may be used from any thread". Reads and waits
// happen only on the reader thread (libmsb serialises them with the
// process's own lock); write, close_stdin, signal and resize touch only the
// sandbox connection, whose locks make them safe alongside a blocked read.
// msb_process_free runs in Drop after the reader thread has been joined.
unsafe impl Send for Proc {}
unsafe impl Sync for Proc {}

impl Proc {
    fn raw(&self) -> *mut sys::msb_process {
        self.ptr.as_ptr()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: the handle came from msb_pty_open; freed once (this kills
        // the process if it still runs).
        unsafe { sys::msb_process_free(self.ptr.as_ptr()) }
    }
}

type Outcome = Result<i32, SdkError>;

struct Shared {
    proc: Proc,
    stop: AtomicBool,
    done: Mutex<Option<Outcome>>,
    cond: Condvar,
}

/// Interactive PTY terminal session, from
/// [`Sandbox::create_pty`](crate::Sandbox::create_pty).
///
/// Output arrives as [`PtyEvent`]s on [`PtySession::output`], read by a
/// background thread from the moment the session starts; `Exit` is last.
/// Dropping the session kills its process.
///
/// ```
/// use msb::Sandbox;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sandbox = Sandbox::new()?;
/// let mut pty = sandbox.create_pty("/bin/sh")?;
/// pty.send_input(b"echo hello\nexit\n")?; // the reference sends no `exit` (not run there)
/// let exit_code = pty.wait()?;
/// println!("exited with {exit_code}");
/// # assert_eq!(exit_code, 0);
/// # Ok(())
/// # }
/// ```
pub struct PtySession {
    shared: Arc<Shared>,
    rx: Receiver<PtyEvent>,
    reader: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PtySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtySession").finish_non_exhaustive()
    }
}

impl PtySession {
    /// Writes input to the terminal, as typed.
    pub fn send_input(&mut self, data: &[u8]) -> Result<(), SdkError> {
        // SAFETY: valid handle and data.
        let rc = unsafe {
            sys::msb_process_write(
                self.shared.proc.raw(),
                data.as_ptr() as *const c_void,
                data.len(),
            )
        };
        check(rc, Op::Pty)
    }

    /// Types the EOF character (^D), as a user would (msb addition).
    pub fn send_eof(&mut self) -> Result<(), SdkError> {
        // SAFETY: valid handle.
        check(
            unsafe { sys::msb_process_close_stdin(self.shared.proc.raw()) },
            Op::Pty,
        )
    }

    /// Resizes the terminal.
    pub fn resize(&mut self, cols: u16, rows: u16) -> Result<(), SdkError> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::msb_process_resize(self.shared.proc.raw(), rows, cols) };
        check(rc, Op::Pty)
    }

    /// The output events: `Output` chunks, then `Exit`.
    pub fn output(&self) -> &Receiver<PtyEvent> {
        &self.rx
    }

    /// The process's pid inside the sandbox (msb addition).
    pub fn pid(&self) -> i64 {
        // SAFETY: valid handle.
        unsafe { sys::msb_process_pid(self.shared.proc.raw()) }
    }

    /// Kills the session's process (its process group) at once.
    pub fn kill(&mut self) -> Result<(), SdkError> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::msb_process_signal(self.shared.proc.raw(), SIGKILL) };
        match check(rc, Op::Pty) {
            // already gone: what kill wanted
            Err(e) if e.msb_code() == Some(sys::MSB_ESTATE) => Ok(()),
            r => r,
        }
    }

    /// Waits for the process to end; its exit code, or 128 + the signal
    /// that killed it. A session past its `PtyConfig::timeout` is killed
    /// and this fails with `CommandTimeout`.
    pub fn wait(&mut self) -> Result<i32, SdkError> {
        let mut done = self
            .shared
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(outcome) = done.as_ref() {
                return match outcome {
                    Ok(code) => Ok(*code),
                    Err(e) => Err(e.duplicate()),
                };
            }
            done = self
                .shared
                .cond
                .wait(done)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let ended = self
            .shared
            .done
            .lock()
            .map(|d| d.is_some())
            .unwrap_or(true);
        if !ended {
            // SAFETY: valid handle; failure (already ended) is fine.
            unsafe {
                sys::msb_process_signal(self.shared.proc.raw(), SIGKILL);
            }
        }
        if let Some(t) = self.reader.take() {
            let _ = t.join();
        }
        // The process handle is freed when the last Arc<Shared> goes: now.
    }
}

fn finish(shared: &Shared, outcome: Outcome) {
    let mut d = shared.done.lock().unwrap_or_else(|p| p.into_inner());
    *d = Some(outcome);
    shared.cond.notify_all();
}

fn reader(shared: Arc<Shared>, tx: Sender<PtyEvent>, deadline: Option<Instant>) {
    let p = shared.proc.raw();
    let mut timed_out = false;
    let mut stopping: Option<Instant> = None;
    loop {
        let mut buf = sys::msb_buf::default();
        let mut stream: c_int = 0;
        // SAFETY: valid handle; only this thread reads or waits.
        let rc = unsafe { sys::msb_process_read(&mut buf, &mut stream, p, POLL_MS) };
        if rc == 0 {
            // SAFETY: rc == 0: buf is ours.
            let data = unsafe {
                let v = buf_vec(&buf);
                sys::msb_buf_free(&mut buf);
                v
            };
            if !data.is_empty() {
                // nobody listening is fine: wait() still works
                let _ = tx.send(PtyEvent::Output(data));
            }
            continue;
        }
        if rc == sys::MSB_ETIMEDOUT {
            if shared.stop.load(Ordering::SeqCst) {
                // The session is being dropped and has killed the process:
                // read on until EDONE, but not forever.
                let since = *stopping.get_or_insert_with(Instant::now);
                if since.elapsed() > STOP_GRACE {
                    finish(
                        &shared,
                        Err(SdkError::sandbox(
                            ErrorCode::CommandKilled,
                            "PTY session closed",
                            None,
                        )),
                    );
                    return;
                }
            }
            if let Some(d) = deadline {
                if !timed_out && Instant::now() >= d {
                    timed_out = true;
                    // SAFETY: valid handle.
                    unsafe { sys::msb_process_signal(p, SIGKILL) };
                }
            }
            continue;
        }
        if rc != sys::MSB_EDONE {
            let e = last_error(rc, Op::Pty);
            finish(&shared, Err(e));
            return;
        }
        break;
    }
    let mut r: *mut sys::msb_command_result = ptr::null_mut();
    // SAFETY: valid handle; the process has ended, so this returns at once.
    let rc = unsafe { sys::msb_process_wait(&mut r, p, 10_000) };
    if rc != 0 {
        let e = last_error(rc, Op::Pty);
        finish(&shared, Err(e));
        return;
    }
    // SAFETY: rc == 0: r is ours.
    let (status, rest) = unsafe {
        let res = &*r;
        let mut rest = buf_vec(&res.out);
        rest.extend(buf_vec(&res.err));
        let s = status_of(res);
        sys::msb_command_result_free(r);
        (s, rest)
    };
    if !rest.is_empty() {
        let _ = tx.send(PtyEvent::Output(rest));
    }
    let _ = tx.send(PtyEvent::Exit(status));
    if timed_out {
        finish(
            &shared,
            Err(SdkError::sandbox(
                ErrorCode::CommandTimeout,
                "PTY session execution timed out",
                Some("increase PtyConfig.timeout".to_string()),
            )),
        );
    } else {
        finish(&shared, Ok(status));
    }
}

impl Sandbox {
    /// Starts `command` (split shell-style; empty: an interactive shell) on
    /// a new pseudo-terminal of 80x24.
    pub fn create_pty(&self, command: &str) -> Result<PtySession, SdkError> {
        let argv = if command.trim().is_empty() {
            Vec::new()
        } else {
            parse_command(command)?
        };
        self.create_pty_with_config(PtyConfig {
            command: argv,
            ..PtyConfig::default()
        })
    }

    /// Starts a PTY session with full configuration.
    pub fn create_pty_with_config(&self, config: PtyConfig) -> Result<PtySession, SdkError> {
        let argv = if config.command.is_empty() {
            None
        } else {
            Some(CArray::new(&config.command, "command argument")?)
        };
        let env = CArray::env(&config.env)?;
        let cwd = config
            .cwd
            .as_deref()
            .map(|c| cstring(c, "cwd"))
            .transpose()?;
        let PtySize { cols, rows } = config.size;
        let o = sys::msb_pty_options {
            version: sys::MSB_PTY_OPTIONS_VERSION,
            argv: argv.as_ref().map_or(ptr::null(), |a| a.as_ptr()),
            env: env.as_ref().map_or(ptr::null(), |a| a.as_ptr()),
            cwd: cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            rows,
            cols,
        };
        let mut raw: *mut sys::msb_process = ptr::null_mut();
        // SAFETY: o and what it points to outlive the call.
        let rc = unsafe { sys::msb_pty_open(&mut raw, self.inner.raw(), &o) };
        check(rc, Op::Pty)?;
        let proc = Proc {
            ptr: NonNull::new(raw).ok_or_else(|| {
                SdkError::sandbox(ErrorCode::Internal, "msb_pty_open returned no handle", None)
            })?,
            _sandbox: Arc::clone(&self.inner),
        };
        let shared = Arc::new(Shared {
            proc,
            stop: AtomicBool::new(false),
            done: Mutex::new(None),
            cond: Condvar::new(),
        });
        let (tx, rx) = mpsc::channel();
        let deadline = config
            .timeout
            .map(|t| Instant::now() + t.max(Duration::from_millis(1)));
        let s = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("msb-pty".to_string())
            .spawn(move || reader(s, tx, deadline))?;
        Ok(PtySession {
            shared,
            rx,
            reader: Some(reader),
        })
    }
}
