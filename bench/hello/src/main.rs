//! A bare axum server: the baseline `bench/run.sh` compares algo-server's Echo with
//! (`wrk`, same machine, same request). `POST /` answers the body it got, as JSON;
//! `GET /` answers "hello, world". No middleware, no logging.
//!
//!   cargo run --release --manifest-path bench/hello/Cargo.toml -- 127.0.0.1:0

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

async fn echo(body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    // bench/run.sh reads this line to learn the port.
    println!("hello listening on http://{}", listener.local_addr()?);
    let app = Router::new().route("/", get(|| async { "hello, world" }).post(echo));
    axum::serve(listener, app).await
}
