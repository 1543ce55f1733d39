//! REPL: code run in long-lived interpreters whose state persists between
//! runs (msb addition; libmsb's `msb_repl_*`).
//!
//! ```
//! use msb::{Language, ReplStatus, Sandbox};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::new()?;
//! # if sandbox.exec(&["python3", "-c", "pass"]).is_err() {
//! #     eprintln!("skipped: no python3 in the sandbox");
//! #     return Ok(());
//! # }
//! sandbox.repl_run(Language::Python, "x = 6 * 7")?;
//! let r = sandbox.repl_run(Language::Python, "x")?;
//! assert_eq!(r.value.as_deref(), Some("42"));
//!
//! let r = sandbox.repl_run(Language::Python, "1 / 0")?;
//! assert_eq!(r.status, ReplStatus::Error);
//! assert_eq!(r.error.unwrap().error_type, "ZeroDivisionError");
//! # Ok(())
//! # }
//! ```

use std::ffi::CString;
use std::os::raw::c_char;
use std::ptr;
use std::str::FromStr;
use std::time::Duration;

use msb_sys as sys;

use crate::error::{check, ErrorCode, Op, SdkError};
use crate::sandbox::{buf_vec, cstr_string, cstring, millis, Sandbox};

/// An interpreter language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Python 3.
    Python,
    /// JavaScript on Node.js.
    Node,
    /// bash, or sh where bash is missing.
    Shell,
}

impl Language {
    fn raw(self) -> sys::msb_language {
        match self {
            Language::Python => sys::MSB_LANG_PYTHON,
            Language::Node => sys::MSB_LANG_NODE,
            Language::Shell => sys::MSB_LANG_SHELL,
        }
    }

    fn from_raw(l: sys::msb_language) -> Option<Self> {
        match l {
            sys::MSB_LANG_PYTHON => Some(Language::Python),
            sys::MSB_LANG_NODE => Some(Language::Node),
            sys::MSB_LANG_SHELL => Some(Language::Shell),
            _ => None,
        }
    }

    /// "python", "node" or "shell".
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Node => "node",
            Language::Shell => "shell",
        }
    }
}

impl FromStr for Language {
    type Err = SdkError;

    /// "python"/"python3"/"py", "node"/"nodejs"/"javascript"/"js",
    /// "shell"/"bash"/"sh".
    fn from_str(s: &str) -> Result<Self, SdkError> {
        match s {
            "python" | "python3" | "py" => Ok(Language::Python),
            "node" | "nodejs" | "javascript" | "js" => Ok(Language::Node),
            "shell" | "bash" | "sh" => Ok(Language::Shell),
            _ => Err(SdkError::sandbox(
                ErrorCode::InvalidConfig,
                format!("unsupported REPL language: {}", s),
                Some("Supported: python, node (javascript), shell".to_string()),
            )),
        }
    }
}

/// Options of one REPL run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplOptions {
    /// The context (each (language, context) pair is an interpreter of its
    /// own); `None`: "default".
    pub context: Option<String>,
    /// Interrupt the run after this long (the state is kept); `None`: the
    /// sandbox config's `timeout`.
    pub timeout: Option<Duration>,
}

/// How a REPL run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplStatus {
    /// The code ran to its end.
    Ok,
    /// The code raised or failed: see `ReplResult::error`.
    Error,
    /// The timeout interrupted it.
    Timeout,
    /// [`Sandbox::repl_interrupt`] interrupted it.
    Interrupted,
}

/// The error a run raised.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplError {
    /// E.g. "ZeroDivisionError".
    pub error_type: String,
    /// The error's message.
    pub message: String,
    /// The traceback, as the interpreter prints it.
    pub traceback: String,
}

/// A rich representation of the value ("text/html", "image/png" in
/// base64, ...).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplOutput {
    /// The MIME type.
    pub mime: String,
    /// The data.
    pub data: Vec<u8>,
}

/// Result of a REPL run.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplResult {
    /// How it ended.
    pub status: ReplStatus,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// The repr of the last expression, if there was one.
    pub value: Option<String>,
    /// The error, when `status` is `Error`.
    pub error: Option<ReplError>,
    /// Rich representations of the value.
    pub outputs: Vec<ReplOutput>,
    /// The interpreter was (re)started fresh: earlier state is gone.
    pub state_lost: bool,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// stdout passed the 64 MiB cap and was cut.
    pub stdout_truncated: bool,
    /// stderr passed the 64 MiB cap and was cut.
    pub stderr_truncated: bool,
    /// The value, the error or the rich outputs were cut to fit one reply.
    pub value_truncated: bool,
}

/// A REPL context of a sandbox.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplContext {
    /// Its language.
    pub language: Language,
    /// Its name.
    pub name: String,
    /// Whether its interpreter is alive.
    pub running: bool,
}

fn context_name(name: &str) -> Result<CString, SdkError> {
    cstring(name, "context name")
}

impl Sandbox {
    /// Runs code in the language's default interpreter, starting it on first
    /// use. Variables and imports persist between runs. Code that raises is
    /// not an error (see `status`); a missing interpreter is
    /// `CommandNotFound`.
    pub fn repl_run(&self, language: Language, code: &str) -> Result<ReplResult, SdkError> {
        self.repl_run_with(language, code, &ReplOptions::default())
    }

    /// Runs code with options (a named context, a timeout).
    pub fn repl_run_with(
        &self,
        language: Language,
        code: &str,
        opts: &ReplOptions,
    ) -> Result<ReplResult, SdkError> {
        if code.as_bytes().contains(&0) {
            return Err(SdkError::config("code contains a NUL byte"));
        }
        let ctx = opts.context.as_deref().map(context_name).transpose()?;
        let o = sys::msb_repl_options {
            version: sys::MSB_REPL_OPTIONS_VERSION,
            language: language.raw(),
            context: ctx.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            timeout_ms: millis(opts.timeout.or(self.config().timeout)),
        };
        let mut r: *mut sys::msb_repl_result = ptr::null_mut();
        // SAFETY: o, ctx and code outlive the call.
        let rc = unsafe {
            sys::msb_repl_run(
                &mut r,
                self.inner.raw(),
                &o,
                code.as_ptr() as *const c_char,
                code.len(),
            )
        };
        check(rc, Op::Repl)?;
        // SAFETY: rc == 0: r is ours; copied, then freed.
        unsafe {
            let res = &*r;
            let status = match res.status {
                sys::MSB_REPL_OK => ReplStatus::Ok,
                sys::MSB_REPL_TIMEOUT => ReplStatus::Timeout,
                sys::MSB_REPL_INTERRUPTED => ReplStatus::Interrupted,
                _ => ReplStatus::Error,
            };
            let value = buf_vec(&res.value);
            let error_type = cstr_string(res.error_type);
            let outputs = if res.outputs.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(res.outputs, res.outputs_len)
            };
            let out = ReplResult {
                status,
                stdout: buf_vec(&res.out),
                stderr: buf_vec(&res.err),
                value: if value.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(&value).into_owned())
                },
                error: if status == ReplStatus::Error || !error_type.is_empty() {
                    Some(ReplError {
                        error_type,
                        message: cstr_string(res.error_message),
                        traceback: String::from_utf8_lossy(&buf_vec(&res.traceback))
                            .into_owned(),
                    })
                } else {
                    None
                },
                outputs: outputs
                    .iter()
                    .map(|o| ReplOutput {
                        mime: cstr_string(o.mime),
                        data: buf_vec(&o.data),
                    })
                    .collect(),
                state_lost: res.state_lost != 0,
                elapsed: Duration::from_micros(res.elapsed_us),
                stdout_truncated: res.out_truncated != 0,
                stderr_truncated: res.err_truncated != 0,
                value_truncated: res.value_truncated != 0,
            };
            sys::msb_repl_result_free(r);
            Ok(out)
        }
    }

    /// Creates a named context (`AlreadyExists` if it exists).
    pub fn repl_context_create(&self, language: Language, name: &str) -> Result<(), SdkError> {
        let n = context_name(name)?;
        // SAFETY: valid handle and name.
        let rc =
            unsafe { sys::msb_repl_context_create(self.inner.raw(), language.raw(), n.as_ptr()) };
        check(rc, Op::Repl)
    }

    /// Resets a context to a fresh interpreter.
    pub fn repl_context_reset(&self, language: Language, name: &str) -> Result<(), SdkError> {
        let n = context_name(name)?;
        // SAFETY: valid handle and name.
        let rc =
            unsafe { sys::msb_repl_context_reset(self.inner.raw(), language.raw(), n.as_ptr()) };
        check(rc, Op::Repl)
    }

    /// Interrupts the code running in a context now (from any thread):
    /// that run ends with [`ReplStatus::Interrupted`] and the interpreter
    /// keeps its state. Returns whether code was running.
    pub fn repl_interrupt(&self, language: Language, name: &str) -> Result<bool, SdkError> {
        let n = context_name(name)?;
        let mut was: std::os::raw::c_int = 0;
        // SAFETY: valid handle, name and out pointer.
        let rc = unsafe {
            sys::msb_repl_interrupt(self.inner.raw(), language.raw(), n.as_ptr(), &mut was)
        };
        check(rc, Op::Repl)?;
        Ok(was != 0)
    }

    /// Destroys a context and its interpreter.
    pub fn repl_context_destroy(&self, language: Language, name: &str) -> Result<(), SdkError> {
        let n = context_name(name)?;
        // SAFETY: valid handle and name.
        let rc =
            unsafe { sys::msb_repl_context_destroy(self.inner.raw(), language.raw(), n.as_ptr()) };
        check(rc, Op::Repl)
    }

    /// The sandbox's REPL contexts.
    pub fn repl_contexts(&self) -> Result<Vec<ReplContext>, SdkError> {
        let mut l: *mut sys::msb_repl_contexts = ptr::null_mut();
        // SAFETY: valid handle.
        let rc = unsafe { sys::msb_repl_context_list(&mut l, self.inner.raw()) };
        check(rc, Op::Repl)?;
        // SAFETY: rc == 0: l is ours.
        unsafe {
            let list = &*l;
            let items = if list.items.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(list.items, list.len)
            };
            let v = items
                .iter()
                .filter_map(|c| {
                    Language::from_raw(c.language).map(|language| ReplContext {
                        language,
                        name: cstr_string(c.name),
                        running: c.running != 0,
                    })
                })
                .collect();
            sys::msb_repl_contexts_free(l);
            Ok(v)
        }
    }
}
