//! msb-sys puts libmsb's directory in the rpath of its own test binaries
//! only; cargo passes link arguments to no other package. Do the same for
//! this crate's tests, doc tests and examples, so that `cargo test` and
//! `cargo run --example` find the libmsb that msb-sys linked against
//! without LD_LIBRARY_PATH. (Programs that depend on `msb` find an installed
//! libmsb the usual way, or set their own rpath.)
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MSB_RPATH");
    if let Ok(dir) = std::env::var("DEP_MSB_RPATH") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
        }
    }
}
