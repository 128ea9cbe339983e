//! The HTTP edge: the accept loop, with the limits `axum::serve` leaves out. A new
//! connection must start its request, and headers must arrive, within a time limit (a
//! client that sends nothing, or trickles its headers, holds nothing for long),
//! at most so many connections are served at once (more wait in the kernel's backlog),
//! HTTP/2 streams per connection are capped, and shutdown ends within its grace even
//! when a client never lets go.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Limits of the HTTP edge (flags in [`crate::Config`]).
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// Time a connection has to send a request's headers, also between keep-alive
    /// requests (the idle limit).
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// HTTP/2 streams one connection may have open.
    pub max_h2_streams: u32,
    /// After shutdown begins, time open connections get to finish before they are
    /// dropped.
    pub grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting,
/// asks open connections to finish, and drops those still open after the grace.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_h2_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(limits.header_read_timeout);
    let service = router.map_request(|request: hyper::Request<Incoming>| request.map(Body::new));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let hyper_service = TowerToHyperService::new(service.clone());
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            // The protocol sniffing of `Builder` reads without a timer, so hyper's header
            // timeout only starts with the first byte: a silent connection is cut here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)).await {
                Ok(Ok(read)) if read > 0 => {}
                _ => {
                    tracing::debug!(%remote, "connection closed: nothing sent within --header-read-timeout");
                    return;
                }
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), hyper_service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!(grace_secs = limits.grace.as_secs(), "connections still open after --shutdown-grace: dropping them");
        }
    }
}
