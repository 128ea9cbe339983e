//! Algorithmia's own clients against the real binary: the Node.js client (npm
//! `algorithmia` 0.3.10, clients/node) and the Python client (PyPI `algorithmia` 2.0.5,
//! clients/python), each with its suite. `scripts/clients-setup.sh` installs them (once;
//! it needs the npm registry and PyPI the first time).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{Server, fixtures_dir};

const ALICE: &str = "alice-client-key";
const BOB: &str = "bob-client-key";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Sets the clients up, starts a server with two users and a fresh data directory, and
/// runs `suite` against it; the server is stopped by PID when the guard drops.
fn run_suite(program: &str, args: &[&str]) {
    // Once for both tests: two `npm ci` (or venv set-ups) at once in one folder race.
    static SETUP: OnceLock<bool> = OnceLock::new();
    let ready = *SETUP.get_or_init(|| {
        Command::new(repo().join("scripts/clients-setup.sh"))
            .status()
            .expect("run scripts/clients-setup.sh")
            .success()
    });
    assert!(ready, "scripts/clients-setup.sh failed");
    let data = std::env::temp_dir().join(format!("algo-clients-{:016x}", fastrand::u64(..)));
    let data_dir = data.display().to_string();
    let alice = format!("alice:{ALICE}");
    let bob = format!("bob:{BOB}");
    let server = Server::start_raw(&[
        "--api-key",
        &alice,
        "--api-key",
        &bob,
        "--data-dir",
        &data_dir,
        "--data-page-size",
        "2",
        "--enable-test-algorithms",
    ])
    .expect("server starts");
    let output = Command::new(program)
        .args(args)
        .current_dir(repo())
        .env("ALGORITHMIA_API", &server.base)
        .env("KEY_ALICE", ALICE)
        .env("KEY_BOB", BOB)
        .env("FIXTURES", fixtures_dir())
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .expect("run the suite");
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(output.status.success(), "{program} suite failed:\n{text}");
}

#[test]
fn official_node_client() {
    run_suite("node", &["--test", "clients/node/test/"]);
}

#[test]
fn official_python_client() {
    run_suite(
        ".venv-clients/bin/python",
        &["clients/python/test_official_client.py"],
    );
}
