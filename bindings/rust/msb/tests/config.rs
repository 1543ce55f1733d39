//! Configuration that libmsb refuses, snapshots, and errors from libmsb
//! that carry its message and hint.

mod common;

use msb::sys;
use msb::{
    Config, ErrorCode, IsolationLevel, NetworkPolicy, Sandbox, SandboxSnapshot, SdkError,
    TrustLevel,
};

#[test]
fn microvm_is_unsupported_with_libmsb_message_and_hint() {
    if let Some(why) = common::cannot_run() {
        return common::skip("microvm", &why);
    }
    let config = Config::builder().isolation(IsolationLevel::MicroVm).build();
    let e = Sandbox::with_config(config).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnsupportedPlatform), "{}", e);
    assert_eq!(e.msb_code(), Some(sys::MSB_EUNSUPPORTED));
    assert!(!e.message().is_empty());
    assert!(e.hint().map_or(false, |h| !h.is_empty()), "no hint: {:?}", e);
}

#[test]
fn untrusted_auto_fails_closed() {
    if let Some(why) = common::cannot_run() {
        return common::skip("untrusted_auto", &why);
    }
    let config = Config::builder().trust_level(TrustLevel::Untrusted).build();
    let e = Sandbox::with_config(config).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnsupportedPlatform), "{}", e);
    // asking for the OS backend explicitly is accepted
    let config = Config::builder()
        .trust_level(TrustLevel::Untrusted)
        .isolation(IsolationLevel::Os)
        .build();
    let sb = Sandbox::with_config(config).unwrap();
    assert_eq!(sb.execute("true").unwrap().exit_code, Some(0));
}

#[test]
fn network_other_than_deny_all_is_refused() {
    for policy in [
        NetworkPolicy::AllowAll,
        NetworkPolicy::AllowDomains(vec!["example.com".into()]),
    ] {
        let config = Config::builder().network(policy).build();
        let e = Sandbox::with_config(config).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::UnsupportedPlatform), "{}", e);
        assert_eq!(e.hint(), Some("use NetworkPolicy::DenyAll"));
    }
}

#[test]
fn network_is_loopback_only() {
    let sb = match common::sandbox("network_loopback") {
        Some(s) => s,
        None => return,
    };
    let r = sb.execute("cat /proc/net/dev").unwrap();
    let ifaces: Vec<String> = common::text(&r.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_string()))
        .collect();
    assert_eq!(ifaces, vec!["lo".to_string()]);
}

#[test]
fn invalid_options_are_invalid_config() {
    if let Some(why) = common::cannot_run() {
        return common::skip("invalid_options", &why);
    }
    let e = Sandbox::with_config(Config::builder().memory_limit_mb(0).build()).unwrap_err();
    assert!(matches!(e, SdkError::Config(_)), "{}", e);
    let e = Sandbox::with_config(Config::builder().workdir("relative/dir").build()).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidConfig), "{}", e);
    assert_eq!(e.msb_code(), Some(sys::MSB_EINVAL));
    let e = Sandbox::with_config(Config::builder().cpu_limit(-1.0).build()).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidConfig), "{}", e);
    let e = Sandbox::with_config(
        Config::builder()
            .volume("/nonexistent/host/dir", "/mnt/x", true)
            .build(),
    )
    .unwrap_err();
    assert!(e.code().is_some(), "{}", e);
}

#[test]
fn invalid_hostname_is_invalid_config_with_a_hint() {
    // libmsb checks the options before it needs anything of the host
    for bad in ["bad_name", "-web", "web.", ""] {
        let e = Sandbox::with_config(Config::builder().hostname(bad).build()).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidConfig), "{:?}: {}", bad, e);
        assert_eq!(e.msb_code(), Some(sys::MSB_EINVAL));
        assert!(e.message().contains(&format!("\"{}\"", bad)), "{}", e);
        assert!(e.hint().map_or(false, |h| h.contains("web-1")), "{:?}", e);
    }
    let e = Sandbox::with_config(Config::builder().hostname("a\0b").build()).unwrap_err();
    assert!(matches!(e, SdkError::Config(_)), "{}", e);
}

#[test]
fn snapshots_need_the_microvm_backend() {
    let sb = match common::sandbox("snapshots") {
        Some(s) => s,
        None => return,
    };
    let e = sb.snapshot().unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnsupportedPlatform));
    assert!(e.message().contains("microVM"), "{}", e);
    assert!(e.hint().is_some());
    let snap = SandboxSnapshot::from_bytes(b"not a real snapshot").unwrap();
    let e = Sandbox::from_snapshot(&snap).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnsupportedPlatform));
    assert_eq!(sb.fork().unwrap_err().code(), Some(ErrorCode::UnsupportedPlatform));
}
