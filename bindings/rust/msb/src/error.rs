//! Errors: [`SdkError`] and its stable [`ErrorCode`].
//!
//! Every failure that comes from libmsb is an [`SdkError::Sandbox`] whose
//! `message` and `suggestion` are libmsb's own message and hint, copied from
//! the thread-local `msb_error_last()` right after the failing call (on the
//! same thread), together with the raw `MSB_E*` code and the OS errno.

use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

use msb_sys as sys;

/// Structured error code for programmatic error matching.
///
/// Each variant has a stable string form ([`ErrorCode::as_str`]) for
/// cross-language transport and log indexing.
///
/// ```
/// use msb::ErrorCode;
///
/// assert_eq!(ErrorCode::CommandTimeout.as_str(), "command_timeout");
/// assert_eq!(ErrorCode::HttpDeniedHost.as_str(), "http_denied_host");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The command exceeded its timeout.
    CommandTimeout,
    /// The command exited with a non-zero status.
    CommandExit(i32),
    /// The command was terminated by the host (or the caller stopped it).
    CommandKilled,
    /// The target file does not exist.
    FileNotFound,
    /// The target file lacks the required access permission, or the host
    /// refused the operation.
    FilePermissionDenied,
    /// The file or transferred content exceeds the size limit.
    FileTooLarge,
    /// The target path is not a directory.
    NotDirectory,
    /// HTTP: the host is not allowed (not produced by libmsb: no network).
    HttpDeniedHost,
    /// HTTP: the request timed out (not produced by libmsb).
    HttpTimeout,
    /// HTTP: the body is too large (not produced by libmsb).
    HttpBodyTooLarge,
    /// HTTP: the connection failed (not produced by libmsb).
    HttpConnectFail,
    /// HTTP: TLS failed (not produced by libmsb).
    HttpTlsFail,
    /// HTTP: the URL is invalid (not produced by libmsb).
    HttpInvalidUrl,
    /// The sandbox is not in a state that allows the operation.
    SandboxNotReady,
    /// The sandbox died, was killed, or its agent stopped answering.
    SandboxDestroyed,
    /// The sandbox could not be created or started.
    SandboxCreateFailed,
    /// An argument or configuration value is invalid.
    InvalidConfig,
    /// This host or backend cannot do this (e.g. the microVM backend).
    UnsupportedPlatform,
    /// The program to run was not found in the sandbox (msb addition).
    CommandNotFound,
    /// A file, sandbox or REPL context of that name exists (msb addition).
    AlreadyExists,
    /// An unexpected failure inside libmsb, such as out of memory (msb
    /// addition).
    Internal,
}

impl ErrorCode {
    /// The stable snake_case name of the code.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::CommandTimeout => "command_timeout",
            ErrorCode::CommandExit(_) => "command_exit",
            ErrorCode::CommandKilled => "command_killed",
            ErrorCode::FileNotFound => "file_not_found",
            ErrorCode::FilePermissionDenied => "file_permission_denied",
            ErrorCode::FileTooLarge => "file_too_large",
            ErrorCode::NotDirectory => "not_directory",
            ErrorCode::HttpDeniedHost => "http_denied_host",
            ErrorCode::HttpTimeout => "http_timeout",
            ErrorCode::HttpBodyTooLarge => "http_body_too_large",
            ErrorCode::HttpConnectFail => "http_connect_fail",
            ErrorCode::HttpTlsFail => "http_tls_fail",
            ErrorCode::HttpInvalidUrl => "http_invalid_url",
            ErrorCode::SandboxNotReady => "sandbox_not_ready",
            ErrorCode::SandboxDestroyed => "sandbox_destroyed",
            ErrorCode::SandboxCreateFailed => "sandbox_create_failed",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::UnsupportedPlatform => "unsupported_platform",
            ErrorCode::CommandNotFound => "command_not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SDK error type.
///
/// - `Sandbox`: a structured error with a stable [`ErrorCode`], libmsb's
///   message, and its hint (`suggestion`) on what to do about it.
/// - `BackendUnavailable`: the asked-for backend does not exist in this build.
/// - `Config`: invalid SDK configuration or malformed input (such as a
///   command with mismatched quotes).
/// - `Io`: an I/O error on the host side.
///
/// ```
/// use msb::Sandbox;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sandbox = Sandbox::new()?;
/// let result = sandbox.execute("/nonexistent/command");
/// match result {
///     Err(e) => println!("error: {e}"),
///     Ok(_) => println!("success"),
/// }
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum SdkError {
    /// Structured error from the sandbox (libmsb).
    Sandbox {
        /// Stable, normalized error code.
        code: ErrorCode,
        /// What went wrong (libmsb's message).
        message: String,
        /// What to do about it (libmsb's hint), when there is one.
        suggestion: Option<String>,
        /// The raw libmsb code (`MSB_E*`, negative), or 0 when the error did
        /// not come from libmsb.
        msb_code: i32,
        /// The OS errno behind the error, or 0.
        os_errno: i32,
    },
    /// The required backend is not available in this build.
    BackendUnavailable(&'static str),
    /// Invalid SDK configuration or malformed input.
    Config(String),
    /// A host I/O error.
    Io(std::io::Error),
}

impl SdkError {
    /// Builds a structured error that did not come from libmsb.
    pub fn sandbox(
        code: ErrorCode,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) -> Self {
        SdkError::Sandbox {
            code,
            message: message.into(),
            suggestion,
            msb_code: 0,
            os_errno: 0,
        }
    }

    /// The structured code, for `Sandbox` errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            SdkError::Sandbox { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The error message without the code or hint.
    pub fn message(&self) -> String {
        match self {
            SdkError::Sandbox { message, .. } => message.clone(),
            SdkError::BackendUnavailable(b) => format!("backend unavailable: {}", b),
            SdkError::Config(m) => m.clone(),
            SdkError::Io(e) => e.to_string(),
        }
    }

    /// libmsb's hint: one sentence on what to do about it.
    pub fn hint(&self) -> Option<&str> {
        match self {
            SdkError::Sandbox { suggestion, .. } => suggestion.as_deref(),
            _ => None,
        }
    }

    /// The raw libmsb error code (`msb_sys::MSB_E*`), when libmsb raised it.
    pub fn msb_code(&self) -> Option<i32> {
        match self {
            SdkError::Sandbox { msb_code, .. } if *msb_code != 0 => Some(*msb_code),
            _ => None,
        }
    }

    /// The OS errno behind the error, when there is one.
    pub fn os_errno(&self) -> Option<i32> {
        match self {
            SdkError::Sandbox { os_errno, .. } if *os_errno != 0 => Some(*os_errno),
            SdkError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        SdkError::Config(message.into())
    }

    /// A copy (std::io::Error is not Clone: its kind and text are kept).
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            SdkError::Sandbox {
                code,
                message,
                suggestion,
                msb_code,
                os_errno,
            } => SdkError::Sandbox {
                code: *code,
                message: message.clone(),
                suggestion: suggestion.clone(),
                msb_code: *msb_code,
                os_errno: *os_errno,
            },
            SdkError::BackendUnavailable(b) => SdkError::BackendUnavailable(b),
            SdkError::Config(m) => SdkError::Config(m.clone()),
            SdkError::Io(e) => SdkError::Io(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}

impl fmt::Display for SdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdkError::Sandbox {
                code,
                message,
                suggestion,
                ..
            } => {
                write!(f, "[{}] {}", code.as_str(), message)?;
                match suggestion {
                    Some(s) if !s.is_empty() => write!(f, " (hint: {})", s),
                    _ => Ok(()),
                }
            }
            SdkError::BackendUnavailable(b) => write!(
                f,
                "backend '{}' is not available in this build of msb",
                b
            ),
            SdkError::Config(m) => write!(f, "invalid configuration: {}", m),
            SdkError::Io(e) => write!(f, "I/O error: {}", e),
        }
    }
}

impl std::error::Error for SdkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SdkError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for SdkError {
    fn from(e: std::io::Error) -> Self {
        SdkError::Io(e)
    }
}

/// What kind of call failed: the same libmsb code means different things
/// for a file and for a command (MSB_ENOTFOUND: no such file / no such
/// program).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Exec,
    File,
    Pty,
    Repl,
    Other,
}

const ENOENT: i32 = 2;
const EPERM: i32 = 1;
const EACCES: i32 = 13;
const ENOTDIR: i32 = 20;

pub(crate) fn map_code(rc: i32, os_errno: i32, op: Op) -> ErrorCode {
    if op == Op::File {
        match os_errno {
            ENOTDIR => return ErrorCode::NotDirectory,
            EACCES | EPERM => return ErrorCode::FilePermissionDenied,
            ENOENT if rc == sys::MSB_ENOTFOUND => return ErrorCode::FileNotFound,
            _ => {}
        }
    }
    match rc {
        sys::MSB_EINVAL | sys::MSB_EVERSION => ErrorCode::InvalidConfig,
        sys::MSB_EUNSUPPORTED => ErrorCode::UnsupportedPlatform,
        sys::MSB_ETIMEDOUT => ErrorCode::CommandTimeout,
        sys::MSB_ECANCELED => ErrorCode::CommandKilled,
        sys::MSB_ETOOBIG => ErrorCode::FileTooLarge,
        sys::MSB_EEXISTS => ErrorCode::AlreadyExists,
        sys::MSB_ENOTFOUND => match op {
            Op::Exec | Op::Pty | Op::Repl => ErrorCode::CommandNotFound,
            _ => ErrorCode::FileNotFound,
        },
        sys::MSB_EPERM => match op {
            Op::Create => ErrorCode::SandboxCreateFailed,
            _ => ErrorCode::FilePermissionDenied,
        },
        _ if op == Op::Create => ErrorCode::SandboxCreateFailed,
        sys::MSB_ESPAWN => ErrorCode::SandboxCreateFailed,
        sys::MSB_ESTATE => match op {
            Op::Pty => ErrorCode::SandboxDestroyed,
            _ => ErrorCode::SandboxNotReady,
        },
        sys::MSB_ESANDBOX | sys::MSB_EPROTO | sys::MSB_EIO => ErrorCode::SandboxDestroyed,
        _ => ErrorCode::Internal,
    }
}

unsafe fn cstr(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Copies the calling thread's `msb_error_last()`. Call it right after the
/// failing libmsb call, on the same thread, before any other libmsb call.
pub(crate) fn last_error(rc: c_int, op: Op) -> SdkError {
    // SAFETY: msb_error_last() never returns NULL; its strings live until
    // the next libmsb call on this thread, and are copied here at once.
    let (code, message, hint, os_errno) = unsafe {
        let e = &*sys::msb_error_last();
        (e.code, cstr(e.message), cstr(e.hint), e.os_errno)
    };
    // The return value is authoritative; the thread-local record is the
    // details (they agree unless libmsb has a bug).
    let raw = if rc < 0 { rc } else { code };
    let message = if message.is_empty() {
        // SAFETY: msb_strerror() returns a static string, never NULL.
        unsafe { cstr(sys::msb_strerror(raw)) }
    } else {
        message
    };
    SdkError::Sandbox {
        code: map_code(raw, os_errno, op),
        message,
        suggestion: if hint.is_empty() { None } else { Some(hint) },
        msb_code: raw,
        os_errno,
    }
}

/// `rc == 0` → Ok, else the copied thread-local error.
pub(crate) fn check(rc: c_int, op: Op) -> Result<(), SdkError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(last_error(rc, op))
    }
}
