//! Shared helpers of the integration tests.
//!
//! Rust's test harness has no SKIP: a test that cannot run on this host
//! prints "skipped: <reason>" on stderr and returns.

#![allow(dead_code)]

use msb::sys;
use msb::{Config, Sandbox};

/// Why sandboxes cannot run on this host, if they cannot (asked of
/// libmsb's own probe, so that a sandbox that fails to start on a capable
/// host is a test failure, not a skip).
pub fn cannot_run() -> Option<String> {
    let mut info = sys::msb_host_info {
        version: sys::MSB_HOST_INFO_VERSION,
        ..Default::default()
    };
    // SAFETY: a valid struct with its version set.
    let rc = unsafe { sys::msb_host_probe(&mut info) };
    if rc != 0 {
        return Some(format!("msb_host_probe failed ({})", rc));
    }
    if info.user_namespaces == 0 {
        return Some("user namespaces are not usable on this host".to_string());
    }
    None
}

pub fn skip(test: &str, reason: &str) {
    eprintln!("{}: skipped: {}", test, reason);
}

/// A default sandbox, or None (and a skip message) where none can run.
pub fn sandbox(test: &str) -> Option<Sandbox> {
    sandbox_with(test, Config::default())
}

pub fn sandbox_with(test: &str, config: Config) -> Option<Sandbox> {
    if let Some(why) = cannot_run() {
        skip(test, &why);
        return None;
    }
    match Sandbox::with_config(config) {
        Ok(s) => Some(s),
        Err(e) => panic!("{}: creating a sandbox failed: {}", test, e),
    }
}

/// Whether a program runs in the sandbox (python3, node may be missing).
pub fn has_program(sb: &Sandbox, prog: &str, probe: &[&str]) -> bool {
    let mut argv = vec![prog];
    argv.extend_from_slice(probe);
    matches!(sb.exec(&argv), Ok(r) if r.exit_code == Some(0))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
