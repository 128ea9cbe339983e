//! Helpers for tests that run the real `algo-server` binary over real HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

pub const KEY: &str = "test-key-123";

/// A running `algo-server` process, killed (by PID) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts the binary on a free port with `KEY` as API key, test algorithms on, and
    /// `args` appended.
    pub fn start(args: &[&str]) -> Server {
        let mut all = vec!["--api-key", KEY, "--enable-test-algorithms"];
        all.extend_from_slice(args);
        Self::start_raw(&all).unwrap_or_else(|output| panic!("server did not start: {output}"))
    }

    /// Starts the binary with exactly `args` (plus `--listen 127.0.0.1:0`); `Err` holds
    /// what it printed if it exited instead.
    pub fn start_raw(args: &[&str]) -> Result<Server, String> {
        Self::start_with_env(args, &[])
    }

    /// [`Server::start_raw`] with `env` added to the process's environment.
    pub fn start_with_env(args: &[&str], env: &[(&str, String)]) -> Result<Server, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_algo-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .env_remove("ALGO_SERVER_API_KEYS")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn algo-server");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = sender.send(first);
            for _ in lines {}
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten();
        match line.and_then(|line| {
            line.strip_prefix("algo-server listening on ")
                .map(str::to_owned)
        }) {
            Some(base) => {
                // Keep stderr drained so the server never blocks on a full pipe.
                if let Some(stderr) = child.stderr.take() {
                    std::thread::spawn(move || {
                        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                            if std::env::var_os("ALGO_SERVER_TEST_LOG").is_some() {
                                eprintln!("[algo-server] {line}");
                            }
                        }
                    });
                }
                Ok(Server { child, base })
            }
            None => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("output");
                Err(String::from_utf8_lossy(&output.stderr).into_owned())
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub async fn call(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        client()
            .post(self.url(path))
            .header(header::AUTHORIZATION, format!("Simple {KEY}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn call_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.call(path, "application/json", body.to_string()).await;
        let status = response.status();
        (status, response.json().await.expect("JSON reply"))
    }

    pub async fn call_bytes(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self.call(path, "application/octet-stream", body).await;
        let status = response.status();
        (status, response.json().await.expect("JSON reply"))
    }

    pub async fn in_flight(&self) -> u64 {
        let health: Value = client()
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .json()
            .await
            .expect("JSON");
        health["in_flight"].as_u64().expect("in_flight")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join("images").join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

pub fn faces_json() -> Value {
    serde_json::from_slice(&fixture("faces.json")).expect("faces.json parses")
}

/// The base64 `result` of a binary success envelope, decoded.
pub fn binary_result(reply: &Value) -> Vec<u8> {
    use base64::Engine;
    assert_eq!(
        reply["metadata"]["content_type"], "binary",
        "reply: {reply}"
    );
    let text = reply["result"].as_str().expect("base64 result");
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

pub fn error_message(reply: &Value) -> String {
    reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error envelope, got {reply}"))
        .to_owned()
}

/// Intersection over union of two `{x, y, width, height}` boxes.
pub fn iou(a: &Value, b: &Value) -> f64 {
    let get = |v: &Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
    let (ax0, ay0) = (get(a, "x"), get(a, "y"));
    let (ax1, ay1) = (ax0 + get(a, "width"), ay0 + get(a, "height"));
    let (bx0, by0) = (get(b, "x"), get(b, "y"));
    let (bx1, by1) = (bx0 + get(b, "width"), by0 + get(b, "height"));
    let iw = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let ih = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let inter = iw * ih;
    inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter)
}

/// A small HTTP server standing in for S3 and for hostile redirects:
/// `/images/{name}` serves a fixture, `/slow/{millis}/{name}` serves it after a pause,
/// `/redirect?to=URL` answers 302.
pub struct Origin {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Origin {
    pub async fn start() -> Origin {
        #[derive(serde::Deserialize)]
        struct To {
            to: String,
        }
        let app = Router::new()
            .route(
                "/images/{name}",
                get(|Path(name): Path<String>| async move {
                    match std::fs::read(fixtures_dir().join("images").join(&name)) {
                        Ok(bytes) => ([(header::CONTENT_TYPE, "image/jpeg")], Bytes::from(bytes))
                            .into_response(),
                        Err(_) => StatusCode::NOT_FOUND.into_response(),
                    }
                }),
            )
            .route(
                "/slow/{millis}/{name}",
                get(|Path((millis, name)): Path<(u64, String)>| async move {
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                    match std::fs::read(fixtures_dir().join("images").join(&name)) {
                        Ok(bytes) => ([(header::CONTENT_TYPE, "image/jpeg")], Bytes::from(bytes))
                            .into_response(),
                        Err(_) => StatusCode::NOT_FOUND.into_response(),
                    }
                }),
            )
            .route(
                "/redirect",
                get(|Query(to): Query<To>| async move {
                    Response::builder()
                        .status(StatusCode::FOUND)
                        .header(header::LOCATION, to.to)
                        .body(axum::body::Body::empty())
                        .expect("response")
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Origin { base, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh bucket in the moto server `make test` runs (`MOTO_ENDPOINT`).
pub struct MotoBucket {
    pub client: aws_sdk_s3::Client,
    pub name: String,
}

impl MotoBucket {
    /// A new bucket named `prefix-<random>`.
    pub async fn new(prefix: &str) -> Self {
        let config = blueprint_testkit::moto_config().await;
        let client = aws_sdk_s3::Client::new(&config);
        let name = blueprint_testkit::unique(prefix);
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket in moto");
        Self { client, name }
    }

    pub async fn put(&self, key: &str, body: impl Into<Vec<u8>>) {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(body.into().into())
            .send()
            .await
            .expect("put object");
    }

    pub async fn get(&self, key: &str) -> Vec<u8> {
        self.try_get(key).await.expect("get object")
    }

    /// The object at `key`, or why it could not be read (it may not be there yet).
    pub async fn try_get(&self, key: &str) -> Result<Vec<u8>, String> {
        let object = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|error| format!("{error:?}"))?;
        Ok(object.body.collect().await.expect("body").to_vec())
    }

    /// Every key in the bucket, sorted.
    pub async fn keys(&self) -> Vec<String> {
        let listed = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .send()
            .await
            .expect("list bucket");
        let mut keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|object| object.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }
}
