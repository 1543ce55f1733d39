//! Commands: execute, exec, exec_with, execute_code, stream_execute,
//! configuration that reaches the sandbox, errors with libmsb's details.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{has_program, sandbox, sandbox_with, text};
use msb::sys;
use msb::{Config, ErrorCode, ExecOptions, SdkError, StreamEvent};

#[test]
fn execute_echo() {
    let sb = match sandbox("execute_echo") {
        Some(s) => s,
        None => return,
    };
    let r = sb.execute("/bin/echo hello").unwrap();
    assert_eq!(r.stdout, b"hello\n");
    assert_eq!(r.stderr, b"");
    assert_eq!(r.exit_code, Some(0));
    assert!(!r.timed_out);
    assert!(r.elapsed > Duration::ZERO);
    assert!(r.elapsed < Duration::from_secs(10));
    sb.destroy().unwrap();
}

#[test]
fn execute_splits_like_a_shell_but_runs_no_shell() {
    let sb = match sandbox("execute_splits") {
        Some(s) => s,
        None => return,
    };
    // the double space survives: one argument, not re-split
    let r = sb.execute("/bin/echo 'a  b' \"c\\\"d\" e\\ f").unwrap();
    assert_eq!(text(&r.stdout), "a  b c\"d e f\n");
    // no shell: $HOME and ; reach echo verbatim
    let r = sb.execute("/bin/echo '$HOME;' x").unwrap();
    assert_eq!(text(&r.stdout), "$HOME; x\n");
    let r = sb.execute("/bin/echo $HOME").unwrap();
    assert_eq!(text(&r.stdout), "$HOME\n");
}

#[test]
fn mismatched_quotes_are_an_error() {
    let sb = match sandbox("mismatched_quotes") {
        Some(s) => s,
        None => return,
    };
    for bad in ["echo 'oops", "echo \"oops", "echo oops\\"] {
        match sb.execute(bad) {
            Err(SdkError::Config(m)) => assert!(m.contains("quote"), "{}", m),
            other => panic!("{:?}: expected a Config error, got {:?}", bad, other),
        }
    }
    assert!(matches!(sb.execute(""), Err(SdkError::Config(_))));
    assert!(matches!(sb.exec(&[]), Err(SdkError::Config(_))));
    assert!(matches!(sb.stream_execute("x 'y"), Err(SdkError::Config(_))));
}

#[test]
fn exit_codes_and_stderr() {
    let sb = match sandbox("exit_codes") {
        Some(s) => s,
        None => return,
    };
    let r = sb.exec(&["sh", "-c", "echo out; echo err >&2; exit 3"]).unwrap();
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(r.stdout, b"out\n");
    assert_eq!(r.stderr, b"err\n");
    // killed by a signal: no exit code
    let r = sb.exec(&["sh", "-c", "kill -9 $$"]).unwrap();
    assert_eq!(r.exit_code, None);
    assert!(!r.timed_out);
}

#[test]
fn missing_program_is_command_not_found_with_libmsb_details() {
    let sb = match sandbox("missing_program") {
        Some(s) => s,
        None => return,
    };
    let e = sb.execute("/nonexistent/command").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CommandNotFound), "{}", e);
    assert_eq!(e.msb_code(), Some(sys::MSB_ENOTFOUND));
    assert!(e.message().contains("/nonexistent/command"), "{}", e.message());
    assert!(e.to_string().starts_with("[command_not_found] "), "{}", e);
    // the sandbox is still usable after a failed call
    assert_eq!(sb.execute("true").unwrap().exit_code, Some(0));
}

#[test]
fn timeout_kills_and_flags() {
    let config = Config::builder().timeout(Duration::from_millis(300)).build();
    let sb = match sandbox_with("timeout", config) {
        Some(s) => s,
        None => return,
    };
    let r = sb.execute("sleep 30").unwrap();
    assert!(r.timed_out);
    assert_eq!(r.exit_code, None);
    assert!(r.elapsed >= Duration::from_millis(250), "{:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_secs(10), "{:?}", r.elapsed);
    // a per-command timeout overrides the config's
    let opts = ExecOptions {
        timeout: Some(Duration::from_secs(20)),
        ..ExecOptions::default()
    };
    let r = sb.exec_with(&["sleep", "0.5"], &opts).unwrap();
    assert!(!r.timed_out);
    assert_eq!(r.exit_code, Some(0));
}

#[test]
fn env_cwd_stdin() {
    let config = Config::builder()
        .env_var("GREETING", "hello")
        .env_var("OTHER", "a b=c")
        .build();
    let sb = match sandbox_with("env_cwd_stdin", config) {
        Some(s) => s,
        None => return,
    };
    let r = sb.execute("printenv GREETING OTHER").unwrap();
    assert_eq!(text(&r.stdout), "hello\na b=c\n");
    let opts = ExecOptions {
        env: vec![("GREETING".into(), "bye".into())],
        cwd: Some("/tmp".into()),
        stdin: Some(b"from stdin\0with a NUL".to_vec()),
        ..ExecOptions::default()
    };
    let r = sb
        .exec_with(&["sh", "-c", "printenv GREETING; pwd; cat"], &opts)
        .unwrap();
    assert_eq!(r.stdout, b"bye\n/tmp\nfrom stdin\0with a NUL");
    let bad = ExecOptions {
        env: vec![("A=B".into(), "c".into())],
        ..ExecOptions::default()
    };
    assert!(matches!(sb.exec_with(&["true"], &bad), Err(SdkError::Config(_))));
    assert!(matches!(sb.exec(&["echo", "nul\0byte"]), Err(SdkError::Config(_))));
}

#[test]
fn output_cap_truncates() {
    let sb = match sandbox("output_cap") {
        Some(s) => s,
        None => return,
    };
    let opts = ExecOptions {
        output_cap: Some(10),
        ..ExecOptions::default()
    };
    let r = sb
        .exec_with(&["sh", "-c", "head -c 100000 /dev/zero"], &opts)
        .unwrap();
    assert_eq!(r.stdout.len(), 10);
    assert_eq!(r.exit_code, Some(0));
}

#[test]
fn execute_code_languages() {
    let sb = match sandbox("execute_code") {
        Some(s) => s,
        None => return,
    };
    let r = sb.execute_code("sh", "echo \"$((6 * 7))\"; exit 2").unwrap();
    assert_eq!(text(&r.stdout), "42\n");
    assert_eq!(r.exit_code, Some(2));
    let e = sb.execute_code("ruby", "puts 1").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidConfig));
    if has_program(&sb, "python3", &["-c", "pass"]) {
        let r = sb
            .execute_code("python", "import sys; print('it\\'s', 6 * 7); sys.exit(1)")
            .unwrap();
        assert_eq!(text(&r.stdout), "it's 42\n");
        assert_eq!(r.exit_code, Some(1));
    } else {
        common::skip("execute_code (python part)", "no python3 in the sandbox");
    }
    if has_program(&sb, "node", &["-e", "0"]) {
        let r = sb.execute_code("js", "console.log([1, 2].map(x => x * 21).join(' '))").unwrap();
        assert_eq!(text(&r.stdout), "21 42\n");
    } else {
        common::skip("execute_code (node part)", "no node in the sandbox");
    }
}

fn collect(rx: std::sync::mpsc::Receiver<StreamEvent>) -> Vec<StreamEvent> {
    let mut v = Vec::new();
    while let Ok(ev) = rx.recv_timeout(Duration::from_secs(30)) {
        v.push(ev);
    }
    v
}

fn joined(events: &[StreamEvent], stderr: bool) -> String {
    let mut s = Vec::new();
    for e in events {
        match (e, stderr) {
            (StreamEvent::Stdout(d), false) | (StreamEvent::Stderr(d), true) => {
                s.extend_from_slice(d)
            }
            _ => {}
        }
    }
    text(&s)
}

#[test]
fn stream_execute_events_end_with_exit() {
    let sb = match sandbox("stream_execute") {
        Some(s) => s,
        None => return,
    };
    let rx = sb
        .stream_execute("sh -c 'echo one; sleep 0.2; echo two >&2; echo three; exit 4'")
        .unwrap();
    let events = collect(rx);
    assert_eq!(events.last(), Some(&StreamEvent::Exit(4)), "{:?}", events);
    let ends = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Exit(_) | StreamEvent::TimedOut))
        .count();
    assert_eq!(ends, 1, "{:?}", events);
    assert_eq!(joined(&events, false), "one\nthree\n");
    assert_eq!(joined(&events, true), "two\n");
    // output comes as it is produced: "one" arrives before the end
    assert!(matches!(events.first(), Some(StreamEvent::Stdout(_))), "{:?}", events);
}

#[test]
fn stream_execute_timeout_is_last() {
    let config = Config::builder().timeout(Duration::from_millis(300)).build();
    let sb = match sandbox_with("stream_timeout", config) {
        Some(s) => s,
        None => return,
    };
    let events = collect(sb.stream_execute("sh -c 'echo start; sleep 30'").unwrap());
    assert_eq!(events.last(), Some(&StreamEvent::TimedOut), "{:?}", events);
    assert_eq!(joined(&events, false), "start\n");
}

#[test]
fn stream_execute_missing_program_reports_and_exits_127() {
    let sb = match sandbox("stream_missing") {
        Some(s) => s,
        None => return,
    };
    let events = collect(sb.stream_execute("/nonexistent/prog arg").unwrap());
    assert_eq!(events.last(), Some(&StreamEvent::Exit(127)), "{:?}", events);
    assert!(joined(&events, true).contains("/nonexistent/prog"), "{:?}", events);
}

#[test]
fn stream_outlives_the_sandbox_value() {
    let sb = match sandbox("stream_outlives") {
        Some(s) => s,
        None => return,
    };
    let rx = sb.stream_execute("sh -c 'sleep 0.3; echo late'").unwrap();
    drop(sb); // the stream thread keeps the handle alive until it ends
    let events = collect(rx);
    assert_eq!(joined(&events, false), "late\n");
    assert_eq!(events.last(), Some(&StreamEvent::Exit(0)));
}

#[test]
fn concurrent_commands_in_one_sandbox() {
    let sb = match sandbox("concurrent") {
        Some(s) => Arc::new(s),
        None => return,
    };
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let sb = Arc::clone(&sb);
            std::thread::spawn(move || {
                for j in 0..5 {
                    let r = sb.exec(&["sh", "-c", &format!("sleep 0.05; echo {}-{}", i, j)]).unwrap();
                    assert_eq!(text(&r.stdout), format!("{}-{}\n", i, j));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn metrics_and_names() {
    let config = Config::builder().name(format!("rs-test-{}", std::process::id())).build();
    let sb = match sandbox_with("metrics", config) {
        Some(s) => s,
        None => return,
    };
    assert_eq!(sb.name(), format!("rs-test-{}", std::process::id()));
    assert_eq!(sb.backend_name(), "os");
    assert!(sb.is_running());
    let m = sb.metrics().unwrap();
    assert!(m.running);
    assert!(m.pids >= 1, "{:?}", m);
    assert!(!msb::version().is_empty());
}

/// How many processes the sandbox had after trying to start 40 sleepers,
/// or None when even counting failed (no process left to fork).
fn processes_after_fork_storm(sb: &msb::Sandbox) -> Option<u32> {
    let r = sb
        .exec(&[
            "sh",
            "-c",
            "for i in $(seq 40); do sleep 2 & done 2>/dev/null; ls /proc | grep -c '^[0-9]'",
        ])
        .unwrap();
    if r.exit_code != Some(0) {
        return None;
    }
    text(&r.stdout).trim().parse().ok()
}

#[test]
fn limits_reach_the_sandbox() {
    // control: without a low limit, all 40 start
    let sb = match sandbox("limits") {
        Some(s) => s,
        None => return,
    };
    let n = processes_after_fork_storm(&sb);
    assert!(n.map_or(false, |n| n >= 40), "control run: {:?}", n);
    drop(sb);

    let config = Config::builder().max_processes(16).memory_limit_mb(64).build();
    let sb = match sandbox_with("limits", config) {
        Some(s) => s,
        None => return,
    };
    let n = processes_after_fork_storm(&sb);
    assert!(n.map_or(true, |n| n <= 16), "max_processes(16) let {:?} run", n);
}

#[test]
fn hostname_reaches_the_sandbox() {
    let config = Config::builder().hostname("web-1").build();
    let sb = match sandbox_with("hostname", config) {
        Some(s) => s,
        None => return,
    };
    let r = sb.exec(&["hostname"]).unwrap();
    assert_eq!(text(&r.stdout), "web-1\n");
    assert_eq!(sb.config().hostname.as_deref(), Some("web-1"));
    // without one, the name is the hostname
    let config = Config::builder().name("rs-host-name").build();
    let sb = match sandbox_with("hostname", config) {
        Some(s) => s,
        None => return,
    };
    let r = sb.exec(&["hostname"]).unwrap();
    assert_eq!(text(&r.stdout), "rs-host-name\n");
}
