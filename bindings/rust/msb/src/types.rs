//! Plain data types: results, events, file information, snapshots.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ErrorCode, SdkError};

/// Result of a sandbox command execution.
///
/// Raw stdout/stderr bytes, exit code, timeout flag and wall-clock time.
/// Use `String::from_utf8_lossy()` to turn stdout/stderr into text.
///
/// ```
/// use msb::Sandbox;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sandbox = Sandbox::new()?;
/// let result = sandbox.execute("/bin/echo hello")?;
/// println!("exit: {:?}", result.exit_code);
/// println!("stdout: {}", String::from_utf8_lossy(&result.stdout));
/// println!("elapsed: {:?}", result.elapsed);
/// # assert_eq!(result.stdout, b"hello\n");
/// # assert_eq!(result.exit_code, Some(0));
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteResult {
    /// Standard output bytes.
    pub stdout: Vec<u8>,
    /// Standard error bytes.
    pub stderr: Vec<u8>,
    /// Exit code; `None` when the process did not exit normally (killed by
    /// a signal, e.g. on timeout).
    pub exit_code: Option<i32>,
    /// Whether the command was killed because of its timeout.
    pub timed_out: bool,
    /// Wall-clock time of the command.
    pub elapsed: Duration,
}

impl ExecuteResult {
    /// Constructs a result (the struct is `#[non_exhaustive]`, so other
    /// crates cannot use a struct literal).
    pub fn new(
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        exit_code: Option<i32>,
        timed_out: bool,
        elapsed: Duration,
    ) -> Self {
        ExecuteResult {
            stdout,
            stderr,
            exit_code,
            timed_out,
            elapsed,
        }
    }
}

/// Streaming output event from [`Sandbox::stream_execute`](crate::Sandbox::stream_execute).
///
/// Delivered through a `std::sync::mpsc::Receiver`. `Exit` or `TimedOut` is
/// always the last event.
///
/// ```
/// use msb::{Sandbox, StreamEvent};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sandbox = Sandbox::new()?;
/// let rx = sandbox.stream_execute("/bin/echo hello")?;
/// for event in rx.iter() {
///     match event {
///         StreamEvent::Stdout(data) => print!("{}", String::from_utf8_lossy(&data)),
///         StreamEvent::Stderr(data) => eprint!("{}", String::from_utf8_lossy(&data)),
///         StreamEvent::Exit(code) => println!("exit = {code}"),
///         StreamEvent::TimedOut => println!("timed out"),
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A chunk of standard output.
    Stdout(Vec<u8>),
    /// A chunk of standard error.
    Stderr(Vec<u8>),
    /// The process ended with this status: its exit code, or 128 + the
    /// signal that killed it. When the command could not run at all, a
    /// `Stderr` event with libmsb's message and hint comes first, then
    /// `Exit(127)` (program not found), `Exit(126)` (could not be
    /// executed) or `Exit(125)` (the sandbox failed), as `msb run` does.
    Exit(i32),
    /// The command was killed because of its timeout.
    TimedOut,
}

/// File type of a directory entry or `stat` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// One entry of [`Sandbox::list_dir`](crate::Sandbox::list_dir).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The file name (no directory part).
    pub name: String,
    /// What it is.
    pub file_type: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Whether it is a symbolic link.
    pub is_symlink: bool,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, milliseconds since the Unix epoch.
    pub modified_ms: Option<u64>,
}

/// File information from [`Sandbox::stat`](crate::Sandbox::stat).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// The path asked about.
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Whether it is a regular file.
    pub is_file: bool,
    /// What it is (a symlink is reported as one).
    pub file_type: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, milliseconds since the Unix epoch.
    pub modified_ms: Option<u64>,
}

/// PTY session event.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PtyEvent {
    /// Terminal output.
    Output(Vec<u8>),
    /// The session's process ended with this status (exit code, or 128 +
    /// signal). Always the last event.
    Exit(i32),
}

/// PTY terminal dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PtySize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

impl Default for PtySize {
    fn default() -> Self {
        PtySize { cols: 80, rows: 24 }
    }
}

/// PTY session configuration, for
/// [`Sandbox::create_pty_with_config`](crate::Sandbox::create_pty_with_config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PtyConfig {
    /// The program and its arguments; empty: an interactive shell (bash,
    /// else sh).
    pub command: Vec<String>,
    /// Terminal size.
    pub size: PtySize,
    /// Environment added to the sandbox's (TERM defaults to xterm-256color).
    pub env: Vec<(String, String)>,
    /// Working directory; `None`: the sandbox's workdir.
    pub cwd: Option<String>,
    /// Kill the session after this long; `wait` then fails with
    /// `CommandTimeout`. `None`: no limit.
    pub timeout: Option<Duration>,
}

/// Per-command options for [`Sandbox::exec_with`](crate::Sandbox::exec_with)
/// (msb addition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// Environment added to the sandbox's for this command.
    pub env: Vec<(String, String)>,
    /// Working directory; `None`: the sandbox's workdir.
    pub cwd: Option<String>,
    /// Bytes fed to stdin, then EOF; `None`: stdin is /dev/null.
    pub stdin: Option<Vec<u8>>,
    /// Time limit; `None`: the config's `timeout`.
    pub timeout: Option<Duration>,
    /// Max bytes kept per output stream; `None`: 16 MiB.
    pub output_cap: Option<u64>,
}

/// Resource usage of a running sandbox (msb addition).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Whether the sandbox runs.
    pub running: bool,
    /// CPU use since the previous call (100 = one CPU fully busy).
    pub cpu_percent: f64,
    /// Resident memory of all its processes.
    pub memory_bytes: u64,
    /// Bytes used in the writable areas.
    pub disk_bytes: u64,
    /// Processes inside, the agent included.
    pub pids: u32,
    /// Time since start.
    pub uptime: Duration,
    /// What the sandbox costs the host: its processes (os backend), or the
    /// whole microVM with the guest memory it touched (vm backend).
    pub host_memory_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SnapshotData {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Opaque handle to a sandbox memory snapshot.
///
/// Snapshots need the microVM backend, which libmsb does not have yet:
/// [`Sandbox::snapshot`](crate::Sandbox::snapshot) and restoring fail with
/// `UnsupportedPlatform` until it does. The handle itself (bytes or a file)
/// works, so code written against it compiles and runs today.
///
/// ```no_run
/// use msb::{Config, IsolationLevel, Sandbox};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::builder()
///     .isolation(IsolationLevel::MicroVm)
///     .build();
/// let mut sandbox = Sandbox::with_config(config)?;
/// let snapshot = sandbox.snapshot()?;
/// println!("snapshot size: {} bytes", snapshot.size());
/// # Ok(())
/// # }
/// ```
///
/// (Not run: there is no microVM backend yet. What happens today:)
///
/// ```
/// use msb::{ErrorCode, Sandbox};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sandbox = Sandbox::new()?;
/// let err = sandbox.snapshot().unwrap_err();
/// assert_eq!(err.code(), Some(ErrorCode::UnsupportedPlatform));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSnapshot {
    data: SnapshotData,
}

fn invalid_snapshot(message: &str) -> SdkError {
    SdkError::sandbox(
        ErrorCode::InvalidConfig,
        message,
        Some("use snapshot bytes or a memory file made by Sandbox::snapshot()".to_string()),
    )
}

impl SandboxSnapshot {
    /// A snapshot from raw bytes (they must not be empty).
    pub fn from_bytes(data: &[u8]) -> Result<Self, SdkError> {
        if data.is_empty() {
            return Err(invalid_snapshot("invalid sandbox snapshot: no data"));
        }
        Ok(SandboxSnapshot {
            data: SnapshotData::Bytes(data.to_vec()),
        })
    }

    /// A file-backed snapshot (its `memory.bin`); the file must exist.
    pub fn from_file(path: PathBuf) -> Result<Self, SdkError> {
        let meta = std::fs::metadata(&path)?;
        if !meta.is_file() || meta.len() == 0 {
            return Err(invalid_snapshot(
                "invalid sandbox snapshot: not a non-empty regular file",
            ));
        }
        Ok(SandboxSnapshot {
            data: SnapshotData::File(path),
        })
    }

    /// The memory file of a file-backed snapshot.
    pub fn memory_file_path(&self) -> Option<&Path> {
        match &self.data {
            SnapshotData::File(p) => Some(p),
            SnapshotData::Bytes(_) => None,
        }
    }

    /// The bytes without a copy (in-memory snapshots only).
    pub fn as_bytes(&self) -> Result<&[u8], SdkError> {
        match &self.data {
            SnapshotData::Bytes(b) => Ok(b),
            SnapshotData::File(_) => Err(invalid_snapshot(
                "a file-backed snapshot has no in-memory bytes: use to_bytes()",
            )),
        }
    }

    /// A copy of the bytes (read from the file for file-backed snapshots).
    pub fn to_bytes(&self) -> Result<Vec<u8>, SdkError> {
        match &self.data {
            SnapshotData::Bytes(b) => Ok(b.clone()),
            SnapshotData::File(p) => Ok(std::fs::read(p)?),
        }
    }

    /// The bytes, consuming the snapshot.
    pub fn into_bytes(self) -> Result<Vec<u8>, SdkError> {
        match self.data {
            SnapshotData::Bytes(b) => Ok(b),
            SnapshotData::File(p) => Ok(std::fs::read(p)?),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        match &self.data {
            SnapshotData::Bytes(b) => b.len(),
            SnapshotData::File(p) => std::fs::metadata(p).map(|m| m.len() as usize).unwrap_or(0),
        }
    }
}
