//! Overhead of the safe binding: `Sandbox::execute("/bin/true")` against
//! the same libmsb call made directly through the FFI (what a C program
//! does: `msb_command_run` with a prepared argv, then
//! `msb_command_result_free`), in one sandbox, in the same run, in
//! alternating rounds so that drift hits both sides alike.
//!
//!     cargo run --release --example bench [-- ITERATIONS [ROUNDS]]
//!
//! Prints the median per-call time of each side and the ratio (target:
//! at most 1.1).

use std::os::raw::c_char;
use std::ptr;
use std::time::{Duration, Instant};

use msb::sys;
use msb::{Config, Sandbox};

fn c_loop(sb: *mut sys::msb_sandbox, n: usize, timeout_ms: i64) -> Duration {
    let argv: [*const c_char; 2] = [b"/bin/true\0".as_ptr() as *const c_char, ptr::null()];
    let mut o = sys::msb_command_options::default();
    // SAFETY: plain FFI use as in C; sb is a running sandbox.
    unsafe {
        assert_eq!(
            sys::msb_command_options_init(&mut o, sys::MSB_COMMAND_OPTIONS_VERSION),
            0
        );
        o.argv = argv.as_ptr();
        o.timeout_ms = timeout_ms;
        let t = Instant::now();
        for _ in 0..n {
            let mut r: *mut sys::msb_command_result = ptr::null_mut();
            let rc = sys::msb_command_run(&mut r, sb, &o);
            assert_eq!(rc, 0, "msb_command_run failed");
            assert_eq!((*r).exit_code, 0);
            sys::msb_command_result_free(r);
        }
        t.elapsed()
    }
}

fn rust_loop(sandbox: &Sandbox, n: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        let r = sandbox.execute("/bin/true").expect("execute");
        assert_eq!(r.exit_code, Some(0));
    }
    t.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(7);

    let sandbox = Sandbox::with_config(Config::default())?;
    let timeout_ms = sandbox.config().timeout.map_or(0, |t| t.as_millis() as i64);
    let raw = sandbox_raw(&sandbox);

    // warm up both paths (page cache, agent, allocator)
    c_loop(raw, 20, timeout_ms);
    rust_loop(&sandbox, 20);

    let mut c = Vec::new();
    let mut r = Vec::new();
    for i in 0..rounds {
        // alternate which side goes first
        if i % 2 == 0 {
            c.push(c_loop(raw, n, timeout_ms).as_secs_f64() / n as f64);
            r.push(rust_loop(&sandbox, n).as_secs_f64() / n as f64);
        } else {
            r.push(rust_loop(&sandbox, n).as_secs_f64() / n as f64);
            c.push(c_loop(raw, n, timeout_ms).as_secs_f64() / n as f64);
        }
    }
    let (cm, rm) = (median(c), median(r));
    println!(
        "execute(\"/bin/true\"): {} rounds x {} calls, backend {}",
        rounds,
        n,
        sandbox.backend_name()
    );
    println!("  C (msb_command_run via FFI): {:8.1} us/call (median)", cm * 1e6);
    println!("  Rust (Sandbox::execute):     {:8.1} us/call (median)", rm * 1e6);
    println!("  ratio Rust/C: {:.3} (target <= 1.1)", rm / cm);
    sandbox.destroy()?;
    Ok(())
}

/// The libmsb handle behind a Sandbox, for the C side of the comparison.
fn sandbox_raw(sandbox: &Sandbox) -> *mut sys::msb_sandbox {
    sandbox.as_raw()
}
