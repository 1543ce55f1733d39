//! A sandbox that cannot start reports libmsb's message and hint. (A test
//! binary of its own: it changes the process environment.)

mod common;

use msb::{ErrorCode, Sandbox};

#[test]
fn bad_agent_path_is_sandbox_create_failed_with_hint() {
    if let Some(why) = common::cannot_run() {
        return common::skip("bad_agent_path", &why);
    }
    std::env::set_var("MSB_AGENT_PATH", "/nonexistent/msb-agent");
    let r = Sandbox::new();
    std::env::remove_var("MSB_AGENT_PATH");
    let e = r.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::SandboxCreateFailed), "{}", e);
    assert!(e.message().contains("/nonexistent/msb-agent"), "{}", e.message());
    assert_eq!(e.hint(), Some("fix or unset MSB_AGENT_PATH"));
    assert!(e.to_string().contains("(hint: fix or unset MSB_AGENT_PATH)"), "{}", e);
    // and with the variable gone, sandboxes work again
    let sb = Sandbox::new().unwrap();
    assert_eq!(sb.execute("true").unwrap().exit_code, Some(0));
}
