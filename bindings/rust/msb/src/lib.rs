//! msb: run untrusted code in Linux sandboxes, from Rust.
//!
//! The safe API of libmsb (the C library of this repository), with the
//! surface of the mimobox SDK: zero-config sandbox creation, and full
//! control through [`Config::builder`].
//!
//! # Quick start
//!
//! ```
//! use msb::Sandbox;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut sandbox = Sandbox::new()?;
//! let result = sandbox.execute("/bin/echo hello")?;
//! println!("exit: {:?}", result.exit_code);
//! sandbox.destroy()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Advanced configuration
//!
//! ```
//! use msb::{Config, IsolationLevel, NetworkPolicy, Sandbox, TrustLevel};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::builder()
//!     .isolation(IsolationLevel::Os)
//!     .trust_level(TrustLevel::Untrusted)
//!     .network(NetworkPolicy::DenyAll)
//!     .memory_limit_mb(256)
//!     .build();
//! let mut sandbox = Sandbox::with_config(config)?;
//! # let _ = &mut sandbox;
//! # Ok(())
//! # }
//! ```
//!
//! # Key types
//!
//! - [`Sandbox`]: the entry point (commands, files, PTY, REPL, snapshots).
//! - [`Config`] / [`ConfigBuilder`]: configuration.
//! - [`ExecuteResult`]: stdout, stderr, exit code, timeout flag, time.
//! - [`StreamEvent`]: streamed output, from [`Sandbox::stream_execute`].
//! - [`SdkError`] / [`ErrorCode`]: errors, with libmsb's message and hint.
//! - [`SandboxSnapshot`]: snapshots (microVM backend: not yet available).
//! - [`PtySession`]: interactive terminals.
//! - [`Language`], [`ReplResult`]: interpreters whose state persists.
//!
//! # Threads
//!
//! [`Sandbox`] is `Send + Sync`, and its methods take `&self`: libmsb runs
//! concurrent commands in one sandbox. [`PtySession`] is `Send`. Errors are
//! copied from libmsb's thread-local error right after each failing call.
//!
//! # Finding libmsb
//!
//! `msb-sys` links libmsb from `MSB_LIB_DIR`, else the source tree's
//! `build/lib` (after `make`), else `pkg-config msb` (after `make
//! install`). The sandbox agent is found next to libmsb, or through
//! `MSB_AGENT_PATH`.

#![warn(missing_docs)]

mod config;
mod error;
mod pty;
mod repl;
mod sandbox;
mod shlex;
mod types;

pub use config::{Config, ConfigBuilder, IsolationLevel, NetworkPolicy, TrustLevel};
pub use error::{ErrorCode, SdkError};
pub use pty::PtySession;
pub use repl::{Language, ReplContext, ReplError, ReplOptions, ReplOutput, ReplResult, ReplStatus};
pub use sandbox::Sandbox;
pub use types::{
    DirEntry, ExecOptions, ExecuteResult, FileStat, FileType, Metrics, PtyConfig, PtyEvent,
    PtySize, SandboxSnapshot, StreamEvent,
};

/// The raw FFI crate, for what the safe API does not cover.
pub use msb_sys as sys;

/// libmsb's version at run time, e.g. "0.1.0".
pub fn version() -> String {
    // SAFETY: msb_version() returns a static string, never NULL.
    unsafe { sandbox::cstr_string(msb_sys::msb_version()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn thread_traits() {
        assert_send_sync::<Sandbox>();
        assert_send::<PtySession>();
        assert_send_sync::<SdkError>();
        assert_send_sync::<Config>();
    }

    #[test]
    fn code_argv_maps_languages() {
        use crate::sandbox::code_argv;
        for (lang, prog, flag) in [
            ("bash", "bash", "-c"),
            ("sh", "sh", "-c"),
            ("shell", "sh", "-c"),
            ("python", "python3", "-c"),
            ("python3", "python3", "-c"),
            ("py", "python3", "-c"),
            ("node", "node", "-e"),
            ("js", "node", "-e"),
            ("javascript", "node", "-e"),
            ("nodejs", "node", "-e"),
        ] {
            let argv = code_argv(lang, "x 'y' \"z\"").unwrap();
            assert_eq!(argv, vec![prog, flag, "x 'y' \"z\""], "{}", lang);
        }
        let err = code_argv("ruby", "puts 1").unwrap_err();
        assert!(matches!(
            err,
            SdkError::Sandbox {
                code: ErrorCode::InvalidConfig,
                ..
            }
        ));
        assert!(err.hint().unwrap().contains("python"));
    }

    #[test]
    fn invalid_quoting_is_a_config_error() {
        let r = crate::sandbox::parse_command("'unterminated");
        assert!(matches!(r, Err(SdkError::Config(_))));
        assert!(matches!(
            crate::sandbox::parse_command("   "),
            Err(SdkError::Config(_))
        ));
    }

    #[test]
    fn error_mapping() {
        use crate::error::{map_code, Op};
        use msb_sys as s;
        assert_eq!(map_code(s::MSB_ENOTFOUND, 2, Op::File), ErrorCode::FileNotFound);
        assert_eq!(map_code(s::MSB_ENOTFOUND, 0, Op::Exec), ErrorCode::CommandNotFound);
        assert_eq!(map_code(s::MSB_EINVAL, 20, Op::File), ErrorCode::NotDirectory);
        assert_eq!(map_code(s::MSB_EPERM, 13, Op::File), ErrorCode::FilePermissionDenied);
        assert_eq!(map_code(s::MSB_ETOOBIG, 0, Op::File), ErrorCode::FileTooLarge);
        assert_eq!(map_code(s::MSB_EUNSUPPORTED, 0, Op::Create), ErrorCode::UnsupportedPlatform);
        assert_eq!(map_code(s::MSB_ESPAWN, 0, Op::Create), ErrorCode::SandboxCreateFailed);
        assert_eq!(map_code(s::MSB_ESANDBOX, 0, Op::Exec), ErrorCode::SandboxDestroyed);
        assert_eq!(map_code(s::MSB_ETIMEDOUT, 0, Op::Exec), ErrorCode::CommandTimeout);
        assert_eq!(map_code(s::MSB_EEXISTS, 17, Op::File), ErrorCode::AlreadyExists);
        assert_eq!(map_code(s::MSB_ENOMEM, 12, Op::Exec), ErrorCode::Internal);
    }

    #[test]
    fn error_display_carries_hint() {
        let e = SdkError::sandbox(
            ErrorCode::FileNotFound,
            "no such file",
            Some("check the path".to_string()),
        );
        assert_eq!(e.to_string(), "[file_not_found] no such file (hint: check the path)");
        assert_eq!(e.hint(), Some("check the path"));
        assert_eq!(e.msb_code(), None);
    }

    #[test]
    fn config_defaults() {
        let c = Config::default();
        assert_eq!(c.isolation, IsolationLevel::Auto);
        assert_eq!(c.trust_level, TrustLevel::SemiTrusted);
        assert_eq!(c.network, NetworkPolicy::DenyAll);
        assert_eq!(c.timeout, Some(std::time::Duration::from_secs(30)));
        let c = Config::builder()
            .allowed_http_domains(["example.com"])
            .fs_readonly(["/etc"])
            .no_timeout()
            .build();
        assert_eq!(c.network, NetworkPolicy::AllowDomains(vec!["example.com".into()]));
        assert_eq!(c.fs_readonly, vec![std::path::PathBuf::from("/etc")]);
        assert_eq!(c.timeout, None);
    }

    #[test]
    fn snapshot_handle() {
        assert!(SandboxSnapshot::from_bytes(&[]).is_err());
        let s = SandboxSnapshot::from_bytes(b"abc").unwrap();
        assert_eq!(s.size(), 3);
        assert_eq!(s.as_bytes().unwrap(), b"abc");
        assert_eq!(s.clone().into_bytes().unwrap(), b"abc".to_vec());
        assert!(s.memory_file_path().is_none());
    }

    #[test]
    fn millis_rounds_up() {
        use crate::sandbox::millis;
        use std::time::Duration;
        assert_eq!(millis(None), 0);
        assert_eq!(millis(Some(Duration::ZERO)), 0);
        assert_eq!(millis(Some(Duration::from_micros(10))), 1);
        assert_eq!(millis(Some(Duration::from_secs(2))), 2000);
    }
}
