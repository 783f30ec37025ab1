//! Build-time inputs: the compiler's version for `selfcheck`'s `outputs.runtime`, and the
//! mappings to embed (`EMBEDDED` in `src/transform/mapping.rs`): every
//! `mappings/<provider>.toml`, so adding a provider is adding a file, with no Rust edit.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=RSTASK_BUILD_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");

    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("mappings");
    // A directory: cargo reruns this script when a file in it is added, removed or changed.
    println!("cargo:rerun-if-changed={}", dir.display());
    let out = Path::new(&std::env::var("OUT_DIR").expect("set by cargo")).join("mappings.rs");
    std::fs::write(&out, embedded_list(&mappings(&dir))).expect("writing the mappings list");
}

/// `(provider, path)` of every `<provider>.toml` in `dir`, sorted by provider. A file name
/// that is no provider name fails the build (the load checks the rest: the `provider` key
/// must match the name).
fn mappings(dir: &Path) -> Vec<(String, PathBuf)> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading the mappings directory {}: {e}", dir.display()));
    let mut mappings: Vec<(String, PathBuf)> = entries
        .map(|entry| entry.expect("listing the mappings directory").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| {
            let provider = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .filter(|stem| is_provider(stem))
                .unwrap_or_else(|| {
                    panic!(
                        "expected {} to be named <provider>.toml, the provider lower-case \
                         letters, digits, '_' or '-'",
                        path.display()
                    )
                })
                .to_owned();
            (provider, path)
        })
        .collect();
    mappings.sort();
    mappings
}

/// The same rule as the mappings' `provider` key.
fn is_provider(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The Rust expression `&[("acme", include_str!("…/mappings/acme.toml")), …]`.
fn embedded_list(mappings: &[(String, PathBuf)]) -> String {
    let mut list = String::from("&[\n");
    for (provider, path) in mappings {
        let path = path
            .to_str()
            .unwrap_or_else(|| panic!("expected a UTF-8 path, got: {}", path.display()));
        writeln!(list, "    ({provider:?}, include_str!({path:?})),").expect("writing to a String");
    }
    list.push_str("]\n");
    list
}
