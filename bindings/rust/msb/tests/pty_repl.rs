//! PTY sessions and REPLs.

mod common;

use std::time::{Duration, Instant};

use common::{has_program, sandbox, text};
use msb::{ErrorCode, Language, PtyConfig, PtyEvent, PtySession, PtySize, ReplOptions, ReplStatus};

/// Reads PTY output until `want` shows up (or panics after 20 s).
fn read_until(pty: &PtySession, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match pty.output().recv_timeout(Duration::from_millis(200)) {
            Ok(PtyEvent::Output(d)) => {
                seen.extend_from_slice(&d);
                if text(&seen).contains(want) {
                    return text(&seen);
                }
            }
            Ok(other) => panic!("unexpected {:?} while waiting for {:?}; saw {:?}", other, want, text(&seen)),
            Err(_) => {}
        }
    }
    panic!("{:?} never showed up; saw {:?}", want, text(&seen));
}

#[test]
fn pty_shell_session() {
    let sb = match sandbox("pty_shell") {
        Some(s) => s,
        None => return,
    };
    let mut pty = sb.create_pty("/bin/sh").unwrap();
    assert!(pty.pid() > 0);
    pty.send_input(b"echo \"[$((6 * 7))]\"\n").unwrap();
    read_until(&pty, "[42]");
    // it is a terminal, of the size asked for
    pty.send_input(b"test -t 0 && echo \"tty-$((1+1))\"\n").unwrap();
    read_until(&pty, "tty-2");
    pty.resize(100, 30).unwrap();
    pty.send_input(b"stty size\n").unwrap();
    read_until(&pty, "30 100");
    pty.send_input(b"exit 3\n").unwrap();
    assert_eq!(pty.wait().unwrap(), 3);
    // Exit is the last event
    let mut last = None;
    while let Ok(ev) = pty.output().recv_timeout(Duration::from_secs(5)) {
        last = Some(ev);
    }
    assert_eq!(last, Some(PtyEvent::Exit(3)));
    // the process has ended: input is refused
    assert!(pty.send_input(b"x").is_err());
    assert_eq!(pty.wait().unwrap(), 3);
}

#[test]
fn pty_kill_and_timeout() {
    let sb = match sandbox("pty_kill") {
        Some(s) => s,
        None => return,
    };
    let mut pty = sb.create_pty("sleep 100").unwrap();
    let t = Instant::now();
    pty.kill().unwrap();
    assert_eq!(pty.wait().unwrap(), 128 + 9);
    assert!(t.elapsed() < Duration::from_secs(10));
    pty.kill().unwrap(); // already gone: fine

    let mut pty = sb
        .create_pty_with_config(PtyConfig {
            command: vec!["sleep".into(), "100".into()],
            size: PtySize { cols: 40, rows: 10 },
            timeout: Some(Duration::from_millis(300)),
            ..PtyConfig::default()
        })
        .unwrap();
    let e = pty.wait().unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CommandTimeout), "{}", e);

    // a missing program fails at once, with libmsb's details
    let e = sb.create_pty("/nonexistent/tty-prog").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CommandNotFound), "{}", e);
}

#[test]
fn pty_outlives_destroy_cleanly() {
    let sb = match sandbox("pty_destroy") {
        Some(s) => s,
        None => return,
    };
    let mut pty = sb.create_pty("").unwrap(); // interactive shell
    pty.send_input(b"echo ready-$((2*3))\n").unwrap();
    read_until(&pty, "ready-6");
    let t = Instant::now();
    sb.destroy().unwrap();
    // the session ends with the sandbox; wait returns, one way or another
    let _ = pty.wait();
    assert!(t.elapsed() < Duration::from_secs(15));
    drop(pty);
}

#[test]
fn pty_drop_while_running() {
    let sb = match sandbox("pty_drop") {
        Some(s) => s,
        None => return,
    };
    let pty = sb.create_pty("sleep 100").unwrap();
    let t = Instant::now();
    drop(pty);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(sb.execute("true").unwrap().exit_code, Some(0));
}

#[test]
fn repl_shell_keeps_state() {
    let sb = match sandbox("repl_shell") {
        Some(s) => s,
        None => return,
    };
    let r = sb.repl_run(Language::Shell, "x=41; cd /tmp").unwrap();
    assert_eq!(r.status, ReplStatus::Ok);
    let r = sb.repl_run(Language::Shell, "echo $((x + 1)) $(pwd)").unwrap();
    assert_eq!(text(&r.stdout), "42 /tmp\n");
    assert!(!r.state_lost);
    // contexts are separate interpreters
    let ctx = ReplOptions {
        context: Some("other".into()),
        ..ReplOptions::default()
    };
    let r = sb.repl_run_with(Language::Shell, "echo \"[${x:-unset}]\"", &ctx).unwrap();
    assert_eq!(text(&r.stdout), "[unset]\n");
    let names: Vec<String> = sb.repl_contexts().unwrap().into_iter().map(|c| c.name).collect();
    assert!(names.contains(&"other".to_string()), "{:?}", names);
    sb.repl_context_reset(Language::Shell, "default").unwrap();
    let r = sb.repl_run(Language::Shell, "echo \"[${x:-unset}]\"").unwrap();
    assert_eq!(text(&r.stdout), "[unset]\n");
    sb.repl_context_create(Language::Shell, "made").unwrap();
    let e = sb.repl_context_create(Language::Shell, "made").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::AlreadyExists), "{}", e);
    sb.repl_context_destroy(Language::Shell, "made").unwrap();
    // an interrupt from another thread stops a run and keeps the state
    sb.repl_run(Language::Shell, "y=7").unwrap();
    assert!(!sb.repl_interrupt(Language::Shell, "default").unwrap());
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            assert!(sb.repl_interrupt(Language::Shell, "default").unwrap());
        });
        sb.repl_run(Language::Shell, "sleep 30").unwrap()
    });
    assert_eq!(r.status, ReplStatus::Interrupted);
    let r = sb.repl_run(Language::Shell, "echo $y").unwrap();
    assert_eq!(text(&r.stdout), "7\n");
    assert_eq!("bash".parse::<Language>().unwrap(), Language::Shell);
    assert!("cobol".parse::<Language>().is_err());
}

#[test]
fn repl_python_values_errors_timeout() {
    let sb = match sandbox("repl_python") {
        Some(s) => s,
        None => return,
    };
    if !has_program(&sb, "python3", &["-c", "pass"]) {
        common::skip("repl_python", "no python3 in the sandbox");
        return;
    }
    sb.repl_run(Language::Python, "import math\nx = 6 * 7").unwrap();
    let r = sb.repl_run(Language::Python, "print('p'); x + math.floor(0.5)").unwrap();
    assert_eq!(r.status, ReplStatus::Ok);
    assert_eq!(text(&r.stdout), "p\n");
    assert_eq!(r.value.as_deref(), Some("42"));
    assert!(r.error.is_none());
    assert!(!r.value_truncated && !r.stdout_truncated && !r.stderr_truncated);

    // a value larger than a reply is cut, and the result says so
    let r = sb.repl_run(Language::Python, "'x' * 1000000").unwrap();
    assert!(r.value_truncated);
    assert!(r.value.map_or(0, |v| v.len()) < 1_000_000);

    let r = sb.repl_run(Language::Python, "1 / 0").unwrap();
    assert_eq!(r.status, ReplStatus::Error);
    let err = r.error.unwrap();
    assert_eq!(err.error_type, "ZeroDivisionError");
    assert!(err.traceback.contains("ZeroDivisionError"), "{}", err.traceback);

    let opts = ReplOptions {
        timeout: Some(Duration::from_millis(300)),
        ..ReplOptions::default()
    };
    let r = sb.repl_run_with(Language::Python, "import time\ntime.sleep(30)", &opts).unwrap();
    assert_eq!(r.status, ReplStatus::Timeout);
    // interrupted, not restarted: the state is still there
    let r = sb.repl_run(Language::Python, "x").unwrap();
    assert_eq!(r.value.as_deref(), Some("42"));
}
