//! Finds libmsb and tells rustc how to link it.
//!
//! In this order:
//!  1. `MSB_LIB_DIR`: a directory holding libmsb.so (an explicit choice wins);
//!  2. the msb source tree this crate sits in: `build/lib` at the repository
//!     root, after `make` (so the tests run against the library just built);
//!  3. `pkg-config msb`, run as a program (after `make install`).
//!
//! For 1 and 2 the directory is also put in the run-time search path (rpath)
//! of this crate's test binaries and passed on to dependents as
//! `DEP_MSB_RPATH`, so that `cargo test` runs without LD_LIBRARY_PATH.
//! Metadata for dependents: `DEP_MSB_LIB_DIR`, `DEP_MSB_RPATH` (when any),
//! `DEP_MSB_INCLUDE` (when known).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn has_lib(dir: &Path) -> bool {
    dir.join("libmsb.so").exists() || dir.join("libmsb.so.0").exists()
}

fn use_dir(dir: &Path, include: Option<PathBuf>) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=msb");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    println!("cargo:lib_dir={}", dir.display());
    println!("cargo:rpath={}", dir.display());
    if let Some(inc) = include {
        println!("cargo:include={}", inc.display());
    }
    println!("cargo:rerun-if-changed={}", dir.join("libmsb.so").display());
}

/// Runs `pkg-config --libs msb`; None when pkg-config or msb.pc is missing.
fn pkg_config() -> Option<(Vec<String>, Vec<String>, Option<String>)> {
    let prog = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&prog).args(["--libs", "msb"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let libs = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut dirs = Vec::new();
    let mut names = Vec::new();
    for word in libs.split_whitespace() {
        if let Some(d) = word.strip_prefix("-L") {
            dirs.push(d.to_string());
        } else if let Some(l) = word.strip_prefix("-l") {
            names.push(l.to_string());
        }
    }
    let include = Command::new(&prog)
        .args(["--variable=includedir", "msb"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty());
    Some((dirs, names, include))
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MSB_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    // bindings/rust/msb-sys -> the repository root
    let root = manifest.join("..").join("..").join("..");

    if let Some(dir) = env::var_os("MSB_LIB_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if !has_lib(&dir) {
            panic!(
                "\n\nmsb-sys: MSB_LIB_DIR={} holds no libmsb.so.\n\
                 Point MSB_LIB_DIR at the directory holding libmsb.so (for the source \
                 tree: <repo>/build/lib after `make`), or unset it.\n\n",
                dir.display()
            );
        }
        use_dir(&dir, None);
        return;
    }

    let tree = root.join("build").join("lib");
    if has_lib(&tree) {
        use_dir(&tree, Some(root.join("include")));
        return;
    }

    if let Some((dirs, names, include)) = pkg_config() {
        for d in &dirs {
            println!("cargo:rustc-link-search=native={}", d);
        }
        // Libs: -L... -lmsb (Libs.private only matters for static linking)
        if names.is_empty() {
            println!("cargo:rustc-link-lib=dylib=msb");
        }
        for n in &names {
            println!("cargo:rustc-link-lib=dylib={}", n);
        }
        if let Some(d) = dirs.first() {
            println!("cargo:lib_dir={}", d);
        }
        if let Some(inc) = include {
            println!("cargo:include={}", inc);
        }
        return;
    }

    panic!(
        "\n\nmsb-sys: libmsb not found. It looked, in order, at:\n\
         \x20 - MSB_LIB_DIR (not set)\n\
         \x20 - the msb source tree: {} (no libmsb.so: run `make` at the repository root)\n\
         \x20 - `pkg-config --libs msb` (pkg-config missing, or no msb.pc on its path)\n\
         To fix it, do one of:\n\
         \x20 - build libmsb in the source tree: `scripts/setup.sh && make` at the repository root;\n\
         \x20 - install it: `make install` (libmsb.so and msb.pc under /usr/local), with \
         pkg-config installed (`apt-get install pkg-config`), and PKG_CONFIG_PATH set if \
         msb.pc is not in a default place;\n\
         \x20 - set MSB_LIB_DIR to the directory that holds libmsb.so.\n\n",
        tree.display()
    );
}
