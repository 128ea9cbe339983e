//! Inputs that the cargo-fuzz targets of `fuzz/` found crashing, kept as regression
//! tests: every file under `tests/fuzz_regressions/<target>/` goes through the same
//! entry points as the target and must give a clean `Ok` or `Err` (no panic).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use algo_server::fetch::AddressClass;
use algo_server::{Config, FetchPolicy, Fetcher};
use clap::Parser;

/// The files of `tests/fuzz_regressions/<target>/`, by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

/// `fuzz/fuzz_targets/fetch_policy.rs`: three lines, an IP address, a URL and an
/// `--allow-fetch-host` value.
#[test]
fn fetch_policy_regressions_are_classified_and_refused_cleanly() {
    let fetcher =
        Fetcher::new(FetchPolicy::new(&[], 1024, Duration::from_secs(1))).expect("fetcher");
    let inputs = inputs("fetch_policy");
    assert!(!inputs.is_empty());
    for (name, data) in inputs {
        let text = String::from_utf8_lossy(&data).into_owned();
        let mut lines = text.splitn(3, '\n');
        if let Some(Ok(ip)) = lines.next().map(|line| line.trim().parse::<IpAddr>()) {
            let _ = AddressClass::of(ip);
        }
        if let Some(url) = lines.next() {
            let _ = fetcher.check(url);
        }
        if let Some(value) = lines.next() {
            let parsed = Config::try_parse_from([
                "algo-server",
                "--allow-anonymous",
                "--allow-fetch-host",
                value,
            ]);
            // Each kept value is malformed: refused with a message, not a panic.
            let error = parsed.expect_err(&name);
            assert!(
                error.to_string().contains("as written in URLs"),
                "{name}: {error}"
            );
        }
    }
}
