//! Algorithmia's own clients against the real binary: the Node.js client (npm
//! `algorithmia` 0.3.10, clients/node) and the Python client (PyPI `algorithmia` 2.0.5,
//! clients/python), each with its suite. `scripts/clients-setup.sh` installs them (once;
//! it needs the npm registry and PyPI the first time).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{MotoBucket, Server, fixtures_dir};

const ALICE: &str = "alice-client-key";
const BOB: &str = "bob-client-key";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the server keeps the suite's files.
enum Storage {
    /// A fresh temporary directory (`--data-dir`).
    Dir,
    /// A fresh bucket in the moto server `make test` runs (`--data-s3-bucket`).
    S3,
}

/// A new moto bucket's name.
fn moto_bucket() -> String {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(MotoBucket::new("clients")).name
}

/// Sets the clients up, starts a server with two users and fresh storage, and runs
/// `suite` against it; the server is stopped by PID when the guard drops.
fn run_suite(program: &str, args: &[&str], storage: Storage) {
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
    let mut server_args = vec![
        "--api-key",
        &alice,
        "--api-key",
        &bob,
        "--data-page-size",
        "2",
        "--enable-test-algorithms",
    ];
    let (bucket, env) = match storage {
        Storage::Dir => (String::new(), Vec::new()),
        Storage::S3 => (moto_bucket(), blueprint_testkit::moto_env()),
    };
    match storage {
        Storage::Dir => server_args.extend(["--data-dir", &data_dir]),
        Storage::S3 => server_args.extend(["--data-s3-bucket", &bucket]),
    }
    let server = Server::start_with_env(&server_args, &env).expect("server starts");
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

const NODE_SUITE: [&str; 2] = ["--test", "clients/node/test/"];
const PYTHON: &str = ".venv-clients/bin/python";
const PYTHON_SUITE: [&str; 1] = ["clients/python/test_official_client.py"];

#[test]
fn official_node_client() {
    run_suite("node", &NODE_SUITE, Storage::Dir);
}

#[test]
fn official_python_client() {
    run_suite(PYTHON, &PYTHON_SUITE, Storage::Dir);
}

#[test]
fn official_node_client_on_s3_storage() {
    run_suite("node", &NODE_SUITE, Storage::S3);
}

#[test]
fn official_python_client_on_s3_storage() {
    run_suite(PYTHON, &PYTHON_SUITE, Storage::S3);
}
