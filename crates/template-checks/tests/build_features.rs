//! `make demo` builds the workspace's binaries (`cargo build --workspace --bins`) and
//! `make test` then builds its tests. Cargo resolves a dependency's features without
//! dev-dependencies for the first and with them for the second, so a dev-dependency that
//! turns on one more feature of a shared crate (`test-util` of the SDK's HTTP client, say)
//! makes the test build compile that crate and everything above it again: the whole AWS
//! SDK, minutes on two cores. This test keeps the two feature sets equal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `package version` → its enabled features, as `cargo tree` resolves them over `edges`.
fn features(edges: &str) -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--workspace",
            "--offline",
            "--no-dedupe",
            "--prefix",
            "none",
            "--edges",
            edges,
            "--format",
            "{p}|{f}",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(package, features)| {
            // `name v1.2.3 (/path)` for workspace members: the name and version identify it.
            let id: Vec<&str> = package.split_whitespace().take(2).collect();
            (id.join(" "), features.to_owned())
        })
        .collect()
}

#[test]
fn dev_dependencies_turn_on_no_feature_of_a_shared_crate() {
    let shipped = features("normal,build");
    let tested = features("normal,build,dev");
    let differing: Vec<String> = shipped
        .iter()
        .filter_map(|(package, built)| {
            let with_dev = tested.get(package)?;
            (with_dev != built).then(|| {
                format!("{package}: [{built}] in `cargo build`, [{with_dev}] in `cargo test`")
            })
        })
        .collect();
    assert!(
        differing.is_empty(),
        "a dev-dependency changes the features of crates the binaries use, so `make test` \
         after `make demo` would compile them (and all above them) again; enable the same \
         features in [dependencies] or drop the dev-dependency:\n{}",
        differing.join("\n")
    );
}
