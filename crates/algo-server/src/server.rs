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
use crate::config::{ApiKey, Config, ConfigError, DEFAULT_USER};
use crate::data::{Caller, Data, routes as data_routes};
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
    #[error("{0}")]
    Data(String),
    #[error("{0}")]
    Faces(String),
}

/// What every handler shares.
pub struct AppState {
    registry: Registry,
    pool: Pool,
    services: Arc<Services>,
    api_keys: Vec<ApiKey>,
    default_timeout: u64,
    max_timeout: u64,
    pub(crate) body: BodyLimits,
    pub(crate) data: Arc<Data>,
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
    let registry = algorithms::registry(&config);
    let app = App::new(registry, &config, VoidCalls::InProcess).await?;
    // Tests and scripts read this line to learn the port chosen for `--listen host:0`;
    // it comes once the algorithms and the Data API's storage are ready.
    println!("algo-server listening on http://{addr}");
    tracing::info!(%addr, "listening");
    serve_app(listener, app, &config, shutdown_signal()).await
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
    pub async fn new(
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
        let data = Arc::new(Data::open(&config.data).await.map_err(ServerError::Data)?);
        let services = Services::new(
            Arc::new(fetcher),
            config.images.limits(),
            tokio::runtime::Handle::current(),
        )
        .with_data(Arc::clone(&data))
        .with_faces(algorithms::face::detector(config).map_err(ServerError::Faces)?);
        let pool = Pool::new(config.worker_count(), config.queue);
        let state = Arc::new(AppState {
            registry,
            pool: pool.clone(),
            services: Arc::new(services),
            api_keys: config.keys(),
            default_timeout: config.default_timeout,
            max_timeout: config.max_timeout,
            body: BodyLimits {
                max_bytes: config.max_body_bytes,
                read_timeout: Duration::from_secs(config.body_read_timeout),
            },
            data,
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
    let app = App::new(registry, config, VoidCalls::InProcess).await?;
    serve_app(listener, app, config, shutdown).await
}

async fn serve_app(
    listener: TcpListener,
    App { router, pool }: App,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
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
        .route("/v1/algorithms/{owner}/{name}", get(algorithm_info))
        .route(
            "/v1/algorithms/{owner}/{name}/versions",
            get(algorithm_versions),
        )
        .route(
            "/v1/algorithms/{owner}/{name}/versions/{version}",
            get(algorithm_version),
        )
        .route("/v1/algo/{*path}", post(call_algorithm))
        .route(
            "/v1/data/{*path}",
            get(data_routes::get)
                .head(data_routes::head)
                .put(data_routes::put)
                .post(data_routes::post)
                .delete(data_routes::delete)
                .patch(data_routes::patch),
        )
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

/// The algorithm `owner/name` names, or a 404 naming it.
fn find_algorithm(
    state: &AppState,
    owner: &str,
    name: &str,
) -> Result<Arc<dyn crate::Algorithm>, CallError> {
    let path: AlgoPath = format!("{owner}/{name}")
        .parse()
        .map_err(|error: algorithmia_v1::PathError| CallError::NotFound(error.to_string()))?;
    state
        .registry
        .resolve(&path)
        .map(|(algorithm, _)| algorithm)
        .map_err(|error| CallError::NotFound(error.to_string()))
}

/// An algorithm version as Algorithmia's management API describes one (the fields a
/// self-hosted server can fill).
fn version_object(
    algorithm: &dyn crate::Algorithm,
    version: &algorithmia_v1::Version,
) -> serde_json::Value {
    let description = algorithm.description();
    json!({
        "id": format!("{}/{}/{version}", algorithm.owner(), algorithm.name()),
        "name": algorithm.name(),
        "owner": algorithm.owner(),
        "details": {
            "label": algorithm.name(),
            "summary": format!("Input: {}. Output: {}.", description.input, description.output),
            "tagline": description.output,
        },
        "settings": {
            "algorithm_callability": "public",
            "source_visibility": "closed",
            "language": "rust",
            "environment": "cpu",
            "network_access": "full",
            "pipeline_enabled": false,
            "royalty_microcredits": 0,
        },
        "version_info": {
            "semantic_version": version.to_string(),
            "version_uuid": format!("{}/{}/{version}", algorithm.owner(), algorithm.name()),
        },
        "compilation": {"successful": true, "output": ""},
        "resource_type": "algorithm",
    })
}

/// `GET /v1/algorithms/{owner}/{name}`: the algorithm, described by its newest version.
async fn algorithm_info(
    State(state): State<Arc<AppState>>,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Response, CallError> {
    let algorithm = find_algorithm(&state, &owner, &name)?;
    let newest =
        algorithm.versions().iter().max().copied().ok_or_else(|| {
            CallError::NotFound(format!("{owner}/{name} has no published version"))
        })?;
    Ok(protocol::json_response(
        StatusCode::OK,
        &version_object(algorithm.as_ref(), &newest),
    ))
}

/// `GET /v1/algorithms/{owner}/{name}/versions`: every hosted version, newest first, in
/// one page (`limit` is honoured; there is never a next page to follow).
async fn algorithm_versions(
    State(state): State<Arc<AppState>>,
    Path((owner, name)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, CallError> {
    let algorithm = find_algorithm(&state, &owner, &name)?;
    let mut versions = algorithm.versions().to_vec();
    versions.sort_by(|a, b| b.cmp(a));
    if let Some(limit) = query
        .get("limit")
        .and_then(|limit| limit.parse::<usize>().ok())
    {
        versions.truncate(limit.max(1));
    }
    let results: Vec<_> = versions
        .iter()
        .map(|version| version_object(algorithm.as_ref(), version))
        .collect();
    Ok(protocol::json_response(
        StatusCode::OK,
        &json!({"marker": null, "next_link": null, "results": results}),
    ))
}

/// `GET /v1/algorithms/{owner}/{name}/versions/{version}`: one version, by any version
/// spec a call accepts (`1.0.0`, `1.0.*`, `1.0`, `1.*`).
async fn algorithm_version(
    State(state): State<Arc<AppState>>,
    Path((owner, name, version)): Path<(String, String, String)>,
) -> Result<Response, CallError> {
    let path: AlgoPath = format!("{owner}/{name}/{version}")
        .parse()
        .map_err(|error: algorithmia_v1::PathError| CallError::NotFound(error.to_string()))?;
    let (algorithm, version) = state
        .registry
        .resolve(&path)
        .map_err(|error| CallError::NotFound(error.to_string()))?;
    Ok(protocol::json_response(
        StatusCode::OK,
        &version_object(algorithm.as_ref(), &version),
    ))
}

async fn not_found(request: Request) -> CallError {
    CallError::NotFound(format!(
        "no route {} {}; algorithms are called with POST /v1/algo/owner/name[/version], files with /v1/data/...",
        request.method(),
        request.uri().path()
    ))
}

async fn require_key(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response, CallError> {
    let default_caller = || Caller {
        user: DEFAULT_USER.to_owned(),
    };
    if state.api_keys.is_empty() || request.extensions().get::<Authenticated>().is_some() {
        request.extensions_mut().insert(default_caller());
        return Ok(next.run(request).await);
    }
    let (missing, matched) = {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.to_str().map(key_from_authorization));
        // Every key is compared (no early exit): timing shows neither which one matched.
        let matched = match &given {
            Some(Ok(key)) => state
                .api_keys
                .iter()
                .filter(|known| same_key(&known.key, key))
                .fold(None, |found, known| found.or(Some(known.user.clone()))),
            _ => None,
        };
        (given.is_none(), matched)
    };
    if let Some(user) = matched {
        request.extensions_mut().insert(Caller { user });
        return Ok(next.run(request).await);
    }
    let refusal = if missing {
        "missing API key: send the header `Authorization: Simple <key>`"
    } else {
        "the API key in the Authorization header is not one this server accepts"
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
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, CallError> {
    let caller = caller.map_or_else(
        || Caller {
            user: DEFAULT_USER.to_owned(),
        },
        |Extension(caller)| caller,
    );
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
    let request_id = request_id(&headers);
    let full_name = format!("{}/{}/{version}", algorithm.owner(), algorithm.name());
    let reply_info = |stdout: Option<String>| protocol::ReplyInfo {
        request_id: Some(request_id.clone()).filter(|id| id != "-"),
        stdout,
        algorithm: full_name.clone(),
    };
    if let Some(url) = algorithm.output_url(&input)
        && let Err(error) = preflight_output(&state, &caller, &url).await
    {
        return Ok(protocol::algorithm_reply(
            Err(error),
            Duration::ZERO,
            options.output,
            reply_info(options.stdout.then(String::new)),
        ));
    }

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
        user: caller.user.clone(),
        version,
        params: options.params,
        timeout: options.timeout,
    };
    let ctx = Context::new(call, Arc::clone(&state.services), cancel.clone());
    let printed = ctx.stdout();
    let wants_stdout = options.stdout;
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
    let stdout = wants_stdout.then(|| printed.take());
    Ok(protocol::algorithm_reply(
        outcome,
        elapsed,
        options.output,
        reply_info(stdout),
    ))
}

/// Checks an input's output URI before any work: an `http(s)` URL under the fetch
/// rules, or a `data://` path the caller may write.
async fn preflight_output(state: &AppState, caller: &Caller, url: &str) -> Result<(), AlgoError> {
    let what = "input field `output_url`";
    if url.starts_with("data://") {
        let path = crate::data::DataPath::parse(url, caller)
            .map_err(|error| AlgoError::input(error.to_string()).prefixed(what))?;
        return state
            .data
            .authorize(caller, &path, crate::data::Access::Write)
            .map_err(|error| AlgoError::input(error.to_string()).prefixed(what));
    }
    state
        .services
        .fetcher
        .preflight(url)
        .await
        .map(|_| ())
        .map_err(|error| AlgoError::from(error).prefixed(what))
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
