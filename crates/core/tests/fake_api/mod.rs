// Shared by several test binaries; each uses part of it.
#![allow(dead_code)]

//! A local HTTP server that plays the Algorithmia v1 protocol, with one algorithm per
//! behaviour under test. It counts attempts and the most calls in flight.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

pub const KEY: &str = "simTESTKEY0123456789";

#[derive(Default)]
pub struct Counters {
    pub attempts: AtomicU32,
    in_flight: AtomicU32,
    pub max_in_flight: AtomicU32,
    pub last_query: std::sync::Mutex<HashMap<String, String>>,
}

pub struct FakeApi {
    pub url: String,
    pub counters: Arc<Counters>,
}

pub async fn start() -> FakeApi {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/v1/algo/{owner}/{name}", post(call))
        .route("/v1/algo/{owner}/{name}/{version}", post(call_versioned))
        .with_state(counters.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FakeApi {
        url: format!("http://{addr}"),
        counters,
    }
}

async fn call_versioned(
    State(counters): State<Arc<Counters>>,
    Path((owner, name, _version)): Path<(String, String, String)>,
    query: Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    call(State(counters), Path((owner, name)), query, headers, body).await
}

fn envelope(result: Value, content_type: &str) -> Response {
    axum::Json(
        json!({"result": result, "metadata": {"content_type": content_type, "duration": 0.01}}),
    )
    .into_response()
}

async fn call(
    State(counters): State<Arc<Counters>>,
    Path((_owner, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let attempt = counters.attempts.fetch_add(1, Ordering::SeqCst) + 1;
    if let Ok(mut last) = counters.last_query.lock() {
        *last = query.clone();
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if algorithmia_v1::key_from_authorization(auth) != KEY {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"message": "authorization required"}})),
        )
            .into_response();
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match name.as_str() {
        "Echo" => match content_type.as_str() {
            "application/json" => {
                envelope(serde_json::from_slice(&body).unwrap_or(Value::Null), "json")
            }
            "text/plain" => envelope(json!(String::from_utf8_lossy(&body)), "text"),
            _ => envelope(
                json!(base64::engine::general_purpose::STANDARD.encode(&body)),
                "binary",
            ),
        },
        "ErrorIn200" => axum::Json(json!({
            "error": {"message": "no face found in the input", "error_type": "AlgorithmError"},
            "metadata": {"content_type": "void", "duration": 0.02}}))
        .into_response(),
        "Flaky" if attempt < 3 => (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response(),
        "Flaky" => envelope(json!({"attempt": attempt}), "json"),
        "Throttled" => (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"error": {"message": "too many requests"}})),
        )
            .into_response(),
        "Exploding" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("x-error-message", "worker exploded")],
            "<html>oops</html>",
        )
            .into_response(),
        "NotJson" => (StatusCode::OK, "<html>hello</html>").into_response(),
        // 2 MiB of result, announced in Content-Length.
        "Huge" => envelope(json!("A".repeat(2 << 20)), "text"),
        // A body that never ends, without Content-Length: only a reader that stops at
        // its cap returns.
        "Endless" => {
            let piece = Bytes::from(vec![b' '; 64 << 10]);
            let body = futures::stream::repeat_with(move || {
                Ok::<_, std::convert::Infallible>(piece.clone())
            });
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                axum::body::Body::from_stream(body),
            )
                .into_response()
        }
        "HugeError" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("worker exploded{}", " ".repeat(2 << 20)),
        )
            .into_response(),
        "Slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            envelope(json!("late"), "text")
        }
        "Hold" => {
            let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            counters.in_flight.fetch_sub(1, Ordering::SeqCst);
            envelope(json!("held"), "text")
        }
        "Raw" if query.get("output").map(String::as_str) == Some("raw") => {
            if body.as_ref() == b"\"fail\"" {
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": {"message": "raw failure"}})),
                )
                    .into_response()
            } else {
                (StatusCode::OK, [("content-type", "application/json")], body).into_response()
            }
        }
        "Void" if query.get("output").map(String::as_str) == Some("void") => {
            axum::Json(json!({"async": "void", "request_id": "req-0001"})).into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"message": format!("algorithm {name} not found")}})),
        )
            .into_response(),
    }
}
