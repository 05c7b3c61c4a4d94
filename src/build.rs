//! Build script: links the server binary with the functions it runs at start
//! and in its usual working set laid out together (`src/layout/*.order`).
//!
//! Why: the kernel maps a binary's code in 64 KiB windows around each page
//! touched, so code that runs is resident together with whatever the linker
//! happened to put next to it. Ordering the functions that run at start-up,
//! at idle and on the common connection paths first keeps the idle server's
//! resident code to a few windows (see README, "Memory"). The lists are
//! made by `benches/layout/regen.sh`; a name that no longer exists is
//! ignored, so a stale list costs only the gain, never the build.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src/layout");
    println!("cargo:rerun-if-env-changed=LOOPCAST_LINK_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    println!("cargo:rerun-if-env-changed=LOOPCAST_LINK_MAP");
    // The link map names every function at its address even in the stripped
    // binary: `benches/layout/regen.sh` maps what ran back to names with it.
    // (Building with symbols instead would change the names: the profile is
    // part of every symbol's hash.)
    if let Some(map) = env::var_os("LOOPCAST_LINK_MAP") {
        let map = Path::new(&map).display().to_string();
        println!("cargo:rustc-link-arg-bin=loopcast=-Wl,-Map={map}");
    }
    if !wanted() {
        return;
    }
    // The feature set decides the symbol names: the device build has its own list.
    let features = ["TLS", "DEFLATE", "STORAGE", "REDIS"];
    let device = features
        .iter()
        .all(|f| env::var_os(format!("CARGO_FEATURE_{f}")).is_none());
    let name = if device {
        "device.order"
    } else {
        "default.order"
    };
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let file = Path::new(&dir).join("src/layout").join(name);
    if !file.is_file() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=loopcast=-Wl,--symbol-ordering-file={}",
        file.display()
    );
    println!("cargo:rustc-link-arg-bin=loopcast=-Wl,--no-warn-symbol-ordering");
}

/// Only where rustc links with its own lld by default (x86_64 Linux glibc,
/// Rust ≥ 1.90), and only when nobody chose another linker: other linkers
/// (GNU ld) do not know `--symbol-ordering-file`. `LOOPCAST_LINK_ORDER=0`
/// turns it off.
fn wanted() -> bool {
    if env::var("LOOPCAST_LINK_ORDER").is_ok_and(|v| v == "0") {
        return false;
    }
    if env::var("TARGET").ok().as_deref() != Some("x86_64-unknown-linux-gnu") {
        return false;
    }
    if env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some() {
        return false;
    }
    // `-C linker=`, `-C linker-flavor=`, `-Z linker-features=`, `-fuse-ld=`.
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    !(flags.contains("linker") || flags.contains("fuse-ld"))
}
