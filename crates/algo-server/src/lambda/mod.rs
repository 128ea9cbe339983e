//! `algo-server` as an AWS Lambda function behind a Function URL: the router and
//! algorithms of the HTTP server, fed events by `lambda_http` instead of a socket.
//! Settings come from the environment (the server's `ALGO_SERVER_*` variables), with
//! the models where the models layer puts them. What a socket server does not need is
//! here: who authenticated the caller, the invocation's deadline, the Function URL's
//! reply limit, and `output=void` calls queued as asynchronous invocations ([`jobs`]).

pub mod jobs;

use std::sync::Arc;
use std::time::{Duration, Instant};

use algorithmia_v1::{ErrorBody, ErrorKind, Reply};
use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use http_body_util::BodyExt;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use tower::ServiceExt;

use crate::algorithms;
use crate::config::Config;
use crate::protocol::{self, CallError};
use crate::server::{App, Authenticated, CallDeadline, VoidCalls};
use jobs::SelfInvoke;

/// How callers are checked: `iam` or `api-key`.
pub const AUTH_ENV: &str = "ALGO_SERVER_AUTH";
/// Lambda extracts layers under /opt; `make package` builds the models layer so.
const LAYER_MODELS_DIR: &str = "/opt/models";
const LAYER_WHISPER_MODEL: &str = "/opt/models/ggml-tiny.en-q8_0.bin";
const LAMBDA_DATA_DIR: &str = "/tmp/algo-server-data";
/// A Function URL carries at most 6 MB each way; binary bodies travel base64-encoded.
pub const FUNCTION_URL_MAX_BYTES: usize = 6 * 1024 * 1024;
/// Time kept back from the invocation's deadline to answer a call that ran out of it.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// Who may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The Function URL has `AuthType: AWS_IAM`: AWS checks each caller's SigV4
    /// signature before the function runs, and every event carries the caller's IAM
    /// identity. An event without one is refused, so a URL switched to `AuthType: NONE`
    /// serves nobody instead of everybody.
    Iam,
    /// `ALGO_SERVER_API_KEYS` (or `ALGO_SERVER_API_KEY_FILE`), as the HTTP server.
    ApiKeys,
}

/// The configuration from the environment, checked.
pub fn config_from_env() -> Result<(Config, Auth), String> {
    let mut config = Config::try_parse_from(["algo-server-lambda"])
        .map_err(|error| error.to_string())?
        .with_key_file()
        .map_err(|error| error.to_string())?;
    if std::env::var_os("ALGO_SERVER_MODELS_DIR").is_none() {
        config.models_dir = LAYER_MODELS_DIR.into();
    }
    if std::env::var_os("WHISPER_MODEL").is_none() {
        config.whisper_model = LAYER_WHISPER_MODEL.into();
    }
    if std::env::var_os("ALGO_SERVER_DATA_DIR").is_none() {
        // The only writable place of a Lambda environment (and gone with it).
        config.data.data_dir = LAMBDA_DATA_DIR.into();
    }
    if std::env::var_os("ALGO_SERVER_MAX_BODY_BYTES").is_none() {
        config.max_body_bytes = FUNCTION_URL_MAX_BYTES;
    }
    let auth = match std::env::var(AUTH_ENV).as_deref() {
        Ok("iam") if !config.api_keys.is_empty() => {
            return Err(format!(
                "{AUTH_ENV}=iam takes no ALGO_SERVER_API_KEYS: the Authorization header \
                 carries the caller's SigV4 signature"
            ));
        }
        Ok("iam") => {
            // Every caller is authenticated before the event reaches the router.
            config.allow_anonymous = true;
            config.allow_anonymous_on_network = true;
            Auth::Iam
        }
        Ok("api-key") | Err(std::env::VarError::NotPresent) => Auth::ApiKeys,
        Ok(other) => {
            return Err(format!(
                "{AUTH_ENV}={other:?} is not a mode: use `iam` (Function URL with AuthType \
                 AWS_IAM) or `api-key` (ALGO_SERVER_API_KEYS)"
            ));
        }
        Err(error) => return Err(format!("{AUTH_ENV}: {error}")),
    };
    config.validate().map_err(|error| error.to_string())?;
    Ok((config, auth))
}

/// Serves Function URL events, and the jobs it queued itself, until the Lambda
/// environment ends.
pub async fn run(config: Config, auth: Auth) -> Result<(), lambda_http::Error> {
    let queue = Arc::new(SelfInvoke::from_env()?);
    let registry = algorithms::registry(&config);
    let App { router, .. } = App::new(registry, &config, VoidCalls::Queued(queue)).await?;
    tracing::info!(?auth, "serving Function URL events");
    let service = tower::service_fn(move |request: lambda_http::Request| {
        handle(router.clone(), auth, request)
    });
    lambda_http::run(service).await
}

async fn handle(
    router: Router,
    auth: Auth,
    request: lambda_http::Request,
) -> Result<Response, jobs::JobFailed> {
    let job = jobs::job_of(&request);
    let mut request = request.map(Body::new);
    let deadline = request.lambda_context_ref().map(|context| context.deadline);
    if let Some(deadline) = deadline.and_then(deadline_instant) {
        request.extensions_mut().insert(CallDeadline(deadline));
    }
    if job.is_some() || (auth == Auth::Iam && iam_caller(&request).is_some()) {
        request.extensions_mut().insert(Authenticated);
    } else if auth == Auth::Iam {
        return Ok(CallError::Unauthorized(format!(
            "this algo-server takes only SigV4-signed calls through its Function URL \
             (AuthType AWS_IAM, {AUTH_ENV}=iam), and this event carries no IAM identity"
        ))
        .into_response());
    }
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let response = within_reply_limit(response).await;
    match job {
        Some(job) => job.outcome(response).await,
        None => Ok(response),
    }
}

/// The invocation's deadline (milliseconds since the epoch) as an `Instant`, less the
/// margin an answer needs.
fn deadline_instant(deadline_ms: u64) -> Option<Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left =
        Duration::from_millis(u64::try_from(u128::from(deadline_ms).checked_sub(now_ms)?).ok()?);
    Some(Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

/// The ARN of the IAM principal AWS authenticated for this event, if any.
fn iam_caller<B>(request: &axum::http::Request<B>) -> Option<String> {
    match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => {
            let iam = context.authorizer.as_ref()?.iam.as_ref()?;
            iam.user_arn.clone().or_else(|| iam.caller_id.clone())
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// `response`, or, when its body would not fit in a Function URL's answer, an
/// `InputError` envelope saying so (Lambda would otherwise fail the invocation and the
/// caller would get a bare 502).
async fn within_reply_limit(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return CallError::Internal(format!("could not read the reply: {error}"))
                .into_response();
        }
    };
    let textual = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json") || value.starts_with("text/"));
    // lambda_http sends other bodies base64-encoded: 4 bytes for every 3.
    let encoded = if textual {
        bytes.len()
    } else {
        bytes.len().div_ceil(3) * 4
    };
    if encoded + 1024 <= FUNCTION_URL_MAX_BYTES {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let message = format!(
        "the result is {} bytes{}: over the {} MB a Lambda Function URL can answer. Ask \
         for a smaller result (or write it to an output URL), or call a self-hosted algo-server",
        bytes.len(),
        if textual {
            ""
        } else {
            " (base64-encoded in the answer)"
        },
        FUNCTION_URL_MAX_BYTES / (1024 * 1024),
    );
    tracing::warn!(bytes = bytes.len(), "reply over the Function URL limit");
    protocol::json_response(
        StatusCode::OK,
        &Reply::Error {
            error: ErrorBody::typed(ErrorKind::InputError, message),
            metadata: None,
        },
    )
}
