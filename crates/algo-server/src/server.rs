//! The HTTP server: routes, auth, limits as layers, and graceful shutdown.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use algorithmia_v1::{AlgoPath, OutputMode, key_from_authorization};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::AlgoError;
use crate::algorithm::{CallInfo, Context, Services};
use crate::algorithms;
use crate::body::BodyLimits;
use crate::config::{Config, ConfigError};
use crate::edge;
use crate::fetch::{FetchPolicy, Fetcher};
use crate::pool::{Pool, RunError};
use crate::protocol::{self, CallError, CallOptions};
use crate::registry::Registry;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr} (--listen): {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the URL fetcher: {0}")]
    Fetcher(#[from] reqwest::Error),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// What every handler shares.
pub struct AppState {
    registry: Registry,
    pool: Pool,
    services: Arc<Services>,
    api_keys: Vec<String>,
    default_timeout: u64,
    max_timeout: u64,
    body: BodyLimits,
    void_calls: VoidCalls,
}

/// Validates `config`, binds, prints `algo-server listening on http://ADDR` on stdout,
/// and serves the algorithms `config` enables until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let config = config.with_key_file()?;
    config.validate()?;
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    // Tests and scripts read this line to learn the port chosen for `--listen host:0`.
    println!("algo-server listening on http://{addr}");
    tracing::info!(%addr, "listening");
    let registry = algorithms::registry(&config);
    serve(listener, registry, &config, shutdown_signal()).await
}

/// How an `output=void` call runs once it has been answered.
#[derive(Clone)]
pub enum VoidCalls {
    /// In this process, after the answer (the HTTP server: it keeps running).
    InProcess,
    /// Handed to a durable queue that runs it later as a call of its own (on Lambda,
    /// which freezes the function once it has answered: an asynchronous invocation of
    /// the function itself).
    Queued(Arc<dyn JobQueue>),
}

/// A durable queue of `output=void` calls.
pub trait JobQueue: Send + Sync {
    /// Resolves once the job is durably queued; an error is the caller's answer.
    fn enqueue(&self, job: Job)
    -> Pin<Box<dyn Future<Output = Result<(), CallError>> + Send + '_>>;
}

/// An `output=void` call, to be run later as a plain call.
#[derive(Debug, Clone)]
pub struct Job {
    /// `owner/name[/version]`, as called.
    pub algorithm: String,
    /// The query string without `output`.
    pub query: String,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub request_id: String,
}

/// Marks a request whose caller was authenticated before it reached the router (on
/// Lambda: by the Function URL's IAM auth, or a job the function queued itself).
#[derive(Debug, Clone, Copy)]
pub struct Authenticated;

/// When the call must have answered (on Lambda: the invocation's deadline): a call's
/// timeout is lowered to end before it, so the caller gets a `TimeoutError`, not a
/// killed invocation.
#[derive(Debug, Clone, Copy)]
pub struct CallDeadline(pub Instant);

/// The routes and algorithms, and the pool they run on: what both entry points serve.
pub struct App {
    pub router: Router,
    pub pool: Pool,
}

impl App {
    pub fn new(
        registry: Registry,
        config: &Config,
        void_calls: VoidCalls,
    ) -> Result<Self, ServerError> {
        config.validate()?;
        let fetcher = Fetcher::new(FetchPolicy::new(
            &config.allow_fetch_hosts,
            config.fetch_max_bytes,
            config.fetch_timeout(),
        ))?;
        let services = Services::new(
            Arc::new(fetcher),
            config.images.limits(),
            tokio::runtime::Handle::current(),
        );
        let pool = Pool::new(config.worker_count(), config.queue);
        let state = Arc::new(AppState {
            registry,
            pool: pool.clone(),
            services: Arc::new(services),
            api_keys: config.api_keys.clone(),
            default_timeout: config.default_timeout,
            max_timeout: config.max_timeout,
            body: BodyLimits {
                max_bytes: config.max_body_bytes,
                read_timeout: Duration::from_secs(config.body_read_timeout),
            },
            void_calls,
        });
        Ok(Self {
            router: router(state),
            pool,
        })
    }
}

/// Serves `registry` on `listener` until `shutdown` completes, then lets in-flight and
/// background calls finish (up to `--shutdown-grace`).
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let App { router, pool } = App::new(registry, config, VoidCalls::InProcess)?;
    edge::serve(listener, router, config.edge_limits(), shutdown).await;
    tracing::info!("no more requests; waiting for background calls");
    if !pool.drain(Duration::from_secs(config.shutdown_grace)).await {
        tracing::warn!(
            grace_secs = config.shutdown_grace,
            "background calls still running after --shutdown-grace; exiting anyway"
        );
    }
    Ok(())
}

pub fn router(state: Arc<AppState>) -> Router {
    let v1 = Router::new()
        .route("/v1/algorithms", get(list_algorithms))
        .route("/v1/algo/{*path}", post(call_algorithm))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_key,
        ));
    Router::new()
        .route("/healthz", get(health))
        .merge(v1)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.body.max_bytes))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request_id(request.headers());
            tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let body = json!({"status": "ok", "in_flight": state.pool.in_flight()});
    protocol::json_response(StatusCode::OK, &body)
}

async fn list_algorithms(State(state): State<Arc<AppState>>) -> Response {
    protocol::json_response(
        StatusCode::OK,
        &json!({"algorithms": state.registry.listing()}),
    )
}

async fn not_found(request: Request) -> CallError {
    CallError::NotFound(format!(
        "no route {} {}; algorithms are called with POST /v1/algo/owner/name[/version]",
        request.method(),
        request.uri().path()
    ))
}

async fn require_key(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, CallError> {
    if state.api_keys.is_empty() || request.extensions().get::<Authenticated>().is_some() {
        return Ok(next.run(request).await);
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().map(key_from_authorization));
    let refusal = match given {
        Some(Ok(key)) if state.api_keys.iter().any(|known| same_key(known, key)) => {
            return Ok(next.run(request).await);
        }
        None => "missing API key: send the header `Authorization: Simple <key>`",
        Some(_) => "the API key in the Authorization header is not one this server accepts",
    };
    state.body.discard_in_background(request.into_body());
    Err(CallError::Unauthorized(refusal.to_owned()))
}

/// Compares in time that depends only on the length of `given` (which the caller
/// knows): neither where the keys differ nor the known key's length shows.
fn same_key(known: &str, given: &str) -> bool {
    let (known, given) = (known.as_bytes(), given.as_bytes());
    let mut diff = u8::from(known.len() != given.len());
    for (i, byte) in given.iter().enumerate() {
        let other = if known.is_empty() {
            0
        } else {
            known[i % known.len()]
        };
        diff |= other ^ byte;
    }
    diff == 0 && !known.is_empty()
}

async fn call_algorithm(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    deadline: Option<Extension<CallDeadline>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, CallError> {
    // Admitted first: only calls that will run (or wait in the bounded queue) have their
    // bodies read and parsed, so memory follows workers + queue, not clients.
    let admitted = (|| {
        let algo_path: AlgoPath = path
            .parse()
            .map_err(|error: algorithmia_v1::PathError| CallError::NotFound(error.to_string()))?;
        let (algorithm, version) = state
            .registry
            .resolve(&algo_path)
            .map_err(|error| CallError::NotFound(error.to_string()))?;
        let options =
            CallOptions::from_query(query.as_deref(), state.default_timeout, state.max_timeout)?;
        let admission = state
            .pool
            .admit()
            .map_err(|busy| CallError::Busy(busy.to_string()))?;
        Ok((algorithm, version, options, admission))
    })();
    let (algorithm, version, mut options, admission) = match admitted {
        Ok(admitted) => admitted,
        Err(refusal) => {
            state.body.discard_in_background(body);
            return Err(refusal);
        }
    };
    let body = state.body.read(body).await?;
    let input = protocol::parse_input(headers.get(header::CONTENT_TYPE), body.clone())?;
    if let Some(url) = algorithm.output_url(&input)
        && let Err(error) = state.services.fetcher.preflight(&url).await
    {
        let error = AlgoError::from(error).prefixed("input field `output_url`");
        return Ok(protocol::algorithm_reply(
            Err(error),
            Duration::ZERO,
            options.output,
        ));
    }

    let request_id = request_id(&headers);
    if let (OutputMode::Void, VoidCalls::Queued(queue)) = (options.output, &state.void_calls) {
        drop(admission);
        let job = Job {
            algorithm: path,
            query: protocol::query_without_output(query.as_deref()),
            content_type: headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            body,
            request_id: request_id.clone(),
        };
        queue.enqueue(job).await?;
        return Ok(protocol::async_reply(&request_id));
    }
    if let Some(Extension(CallDeadline(deadline))) = deadline {
        options.timeout = options
            .timeout
            .min(deadline.saturating_duration_since(Instant::now()));
    }
    let cancel = CancellationToken::new();
    let call = CallInfo {
        request_id: request_id.clone(),
        version,
        params: options.params,
        timeout: options.timeout,
    };
    let ctx = Context::new(call, Arc::clone(&state.services), cancel.clone());
    let full_name = format!("{}/{}/{version}", algorithm.owner(), algorithm.name());
    let gate = algorithm.gate();
    let worker = ctx.worker();
    let run = async move {
        let started = Instant::now();
        let outcome = admission
            .run_in_slot(options.timeout, cancel, gate, worker, move || {
                algorithm.call(input, &ctx)
            })
            .await
            .unwrap_or_else(|error| {
                Err(match error {
                    RunError::Timeout(_) => AlgoError::timeout(error.to_string()),
                    RunError::Panicked(_) => AlgoError::failed(error.to_string()),
                })
            });
        (outcome, started.elapsed())
    };

    if options.output == OutputMode::Void {
        let background = async move {
            let (outcome, elapsed) = run.await;
            match outcome {
                Ok(_) => {
                    tracing::info!(algorithm = %full_name, secs = elapsed.as_secs_f64(), "async call done")
                }
                Err(error) => tracing::warn!(algorithm = %full_name, %error, "async call failed"),
            }
        };
        state
            .pool
            .spawn_background(background.instrument(tracing::Span::current()));
        return Ok(protocol::async_reply(&request_id));
    }
    let (outcome, elapsed) = run.await;
    if let Err(error) = &outcome {
        tracing::info!(algorithm = %full_name, kind = %error.kind, %error, "algorithm error");
    }
    Ok(protocol::algorithm_reply(outcome, elapsed, options.output))
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        id.parse().ok().map(RequestId::new)
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received; finishing in-flight calls");
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn keys_match_only_whole() {
        assert!(same_key("simKEY123", "simKEY123"));
        for other in [
            "simKEY12",
            "simKEY1234",
            "simKEY124",
            "",
            "simKEY123simKEY123",
        ] {
            assert!(!same_key("simKEY123", other), "{other}");
        }
        assert!(!same_key("", ""));
    }
}
