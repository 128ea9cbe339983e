//! Real services for integration tests: the `algo-server` binary, and a gateway in
//! front of it that counts calls and can answer some of them with an error status.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::{ChildGuard, free_port, wait_for_port, workspace_root};

/// A running `algo-server`, stopped by PID when dropped.
pub struct AlgoServer {
    pub url: String,
    pub guard: ChildGuard,
}

/// The `algo-server` binary: `ALGO_SERVER_BIN`, else [`workspace_bin`].
pub fn algo_server_bin() -> PathBuf {
    match std::env::var("ALGO_SERVER_BIN") {
        Ok(path) => PathBuf::from(path),
        Err(_) => workspace_bin("algo-server"),
    }
}

/// A binary of the workspace as the test build left it: `$CARGO_TARGET_DIR/debug/NAME`
/// (`cargo test --workspace` builds the binaries of every package with tests).
pub fn workspace_bin(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    target.join("debug").join(name)
}

impl AlgoServer {
    /// Starts the server with `args` on a free port, anonymous unless `args` gives keys.
    pub fn start(args: &[&str]) -> Self {
        Self::start_on(free_port(), args)
    }

    /// Starts the server on `port` (to restart one at the address callers know).
    pub fn start_on(port: u16, args: &[&str]) -> Self {
        let bin = algo_server_bin();
        assert!(
            bin.exists(),
            "{} is missing: build it with `cargo build -p algo-server` (make test does)",
            bin.display()
        );
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(&bin);
        command
            .arg("--listen")
            .arg(addr.to_string())
            .args(args)
            .current_dir(workspace_root())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if !args.iter().any(|a| a.starts_with("--api-key")) {
            command.arg("--allow-anonymous");
        }
        let guard = ChildGuard::spawn("algo-server", &mut command);
        assert!(
            wait_for_port(addr, Duration::from_secs(30)),
            "algo-server did not listen on {addr} within 30 s"
        );
        Self {
            url: format!("http://{addr}"),
            guard,
        }
    }
}

/// Decides, from a request body, whether the gateway answers it itself (with this
/// status and JSON body; an empty body sends only an `x-error-message` header)
/// instead of forwarding it.
pub type FailRule = Arc<dyn Fn(&[u8]) -> Option<(StatusCode, String)> + Send + Sync>;

#[derive(Default)]
pub struct GatewayCounters {
    /// Requests received (forwarded or failed).
    pub calls: AtomicU32,
    pub failed: AtomicU32,
    in_flight: AtomicU32,
    pub max_in_flight: AtomicU32,
}

/// An HTTP gateway on a free port forwarding `/v1/algo/*` to `upstream`.
pub struct Gateway {
    pub url: String,
    pub counters: Arc<GatewayCounters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct GatewayState {
    upstream: String,
    http: reqwest::Client,
    rule: FailRule,
    counters: Arc<GatewayCounters>,
}

impl Gateway {
    pub async fn start(upstream: &str, rule: FailRule) -> Self {
        let counters = Arc::new(GatewayCounters::default());
        let state = GatewayState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            rule,
            counters: counters.clone(),
        };
        let app = Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            counters,
            task,
        }
    }
}

async fn forward(State(state): State<GatewayState>, request: Request) -> Response {
    let counters = &state.counters;
    counters.calls.fetch_add(1, Ordering::SeqCst);
    let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = relay(&state, request).await;
    counters.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn relay(state: &GatewayState, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body): Result<Bytes, _> = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Some((status, reply)) = (state.rule)(&body) {
        state.counters.failed.fetch_add(1, Ordering::SeqCst);
        if reply.is_empty() {
            let message = format!("gateway answered {status}");
            return (status, [("x-error-message", message)], "").into_response();
        }
        return (status, [("content-type", "application/json")], reply).into_response();
    }
    let url = format!("{}{}", state.upstream, parts.uri);
    let mut upstream = state.http.request(parts.method, url).body(body);
    for (name, value) in parts.headers.iter() {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(reply) => {
            let status = reply.status();
            let content_type = reply
                .headers()
                .get("content-type")
                .cloned()
                .unwrap_or_else(|| "application/json".parse().expect("static header"));
            let bytes = reply.bytes().await.unwrap_or_default();
            (status, [("content-type", content_type)], bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
