//! `cargo bench -p algo-server --bench predict`: latency of `blueprints/Predict` through
//! HTTP against the real binary (one client, calls one after another), for batches of
//! 1, 100 and 1000 breast-cancer rows, and the same batches in-process for comparison.
//!
//! Needs `make models`. BENCH_CALLS sets the calls per batch size (default 200; 3 when
//! `cargo test --all-targets` runs it as a smoke test).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use algo_predict::{Options, Predictor};
use serde_json::{Value, json};

const BATCHES: [usize; 3] = [1, 100, 1000];

fn main() {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let expected = models.join("predict/breast-cancer/1.1.0/expected.json");
    let Ok(text) = std::fs::read_to_string(&expected) else {
        eprintln!("missing {}: run `make models` first", expected.display());
        std::process::exit(1);
    };
    let rows: Vec<Value> = serde_json::from_str::<Vec<Value>>(&text)
        .expect("expected.json")
        .into_iter()
        .map(|row| row["features"].clone())
        .collect();
    // `cargo bench` passes --bench; under `cargo test --all-targets` this is a smoke run.
    let default_calls = if std::env::args().any(|arg| arg == "--bench") {
        200
    } else {
        3
    };
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_calls);
    let inputs: Vec<(usize, Value)> = BATCHES
        .iter()
        .map(|&size| {
            let instances: Vec<Value> = rows.iter().cycle().take(size).cloned().collect();
            (
                size,
                json!({"model": "breast-cancer/1.1.0", "instances": instances}),
            )
        })
        .collect();

    let server = Server::start(&models);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("{}/v1/algo/blueprints/Predict/1.0.0", server.base);
    println!("blueprints/Predict, breast-cancer/1.1.0 (30 features), {calls} calls per batch size");
    println!(
        "{:<22} {:>7} {:>12} {:>12} {:>14}",
        "", "batch", "median ms", "p90 ms", "rows/s"
    );
    for (size, input) in &inputs {
        let body = input.to_string();
        let times = measure(calls, || {
            runtime.block_on(async {
                let reply: Value = client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("JSON reply");
                assert!(reply.get("error").is_none(), "{reply}");
            });
        });
        report("HTTP (real binary)", *size, &times);
    }
    drop(server);

    let predictor = Predictor::open(&models, Options::default()).expect("predictor");
    for (size, input) in &inputs {
        let times = measure(calls, || {
            predictor.predict(input).expect("prediction");
        });
        report("in-process predict()", *size, &times);
    }
}

/// Runs `call` a few times to warm up, then `calls` times, timing each.
fn measure(calls: usize, mut call: impl FnMut()) -> Vec<Duration> {
    for _ in 0..5 {
        call();
    }
    let mut times: Vec<Duration> = (0..calls)
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(what: &str, batch: usize, sorted: &[Duration]) {
    let median = sorted[sorted.len() / 2];
    let p90 = sorted[sorted.len() * 9 / 10];
    let total: Duration = sorted.iter().sum();
    let rows_per_second = (batch * sorted.len()) as f64 / total.as_secs_f64();
    println!(
        "{what:<22} {batch:>7} {:>12.3} {:>12.3} {rows_per_second:>14.0}",
        median.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3
    );
}

/// The real `algo-server` on a free port, killed (by PID) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(models: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_algo-server"))
            .args([
                "--allow-anonymous",
                "--listen",
                "127.0.0.1:0",
                "--models-dir",
            ])
            .arg(models)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn algo-server");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("first line");
        // Keep stdout drained so the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let base = line
            .trim()
            .strip_prefix("algo-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
