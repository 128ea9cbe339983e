//! [`AlgorithmClient`]: calls algorithms over the Algorithmia v1 HTTP API.

mod authorize;
mod error;
mod io;
mod retry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use tokio::sync::Semaphore;

pub use authorize::{IamSigner, SIGNING_SERVICE};
pub use error::AlgorithmError;
pub use io::{AlgoOutput, AlgoResponse, Input};
pub use retry::RetryPolicy;

use crate::api_key::{ApiKey, KeyError};
use crate::auth::Auth;
use crate::env::{ALGORITHMIA_API_KEY, ALGORITHMIA_AUTH, AUTH_IAM};
use crate::lambda::SdkConfig;
use crate::settings::AlgorithmiaSettings;
use crate::v1::{
    AlgoPath, AsyncReply, DEFAULT_TIMEOUT_SECS, ERROR_MESSAGE_HEADER, ErrorKind, MAX_REQUEST_BYTES,
    MAX_TIMEOUT_SECS, OutputMode, Reply,
};
use authorize::Authorizer;

/// Extra time the client waits beyond the algorithm's own timeout, for the reply
/// to travel back.
const REPLY_GRACE: Duration = Duration::from_secs(5);
/// Below this much time left before the deadline, an attempt is not started.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(50);

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The algorithm's timeout (`timeout` query parameter); the API's default when unset.
    pub timeout: Option<Duration>,
    /// Ask for the algorithm's stdout in `metadata.stdout`.
    pub stdout: bool,
    /// No attempt starts, and none runs, past this instant (the invocation deadline).
    pub deadline: Option<Instant>,
}

impl CallOptions {
    pub fn with_deadline(deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..Self::default()
        }
    }
}

/// The bare reply of an `output=raw` call.
#[derive(Debug, Clone, PartialEq)]
pub struct RawReply {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientStartError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("could not build the HTTP client: {0}")]
    Http(String),
    #[error(
        "{ALGORITHMIA_AUTH}={AUTH_IAM} signs calls with the function's AWS credentials, but the AWS configuration has no credentials provider"
    )]
    NoCredentials,
}

/// One per process: it holds the connection pool and the cap on calls in flight.
#[derive(Debug, Clone)]
pub struct AlgorithmClient {
    http: reqwest::Client,
    api: Arc<str>,
    /// The API key's header, or the SigV4 signer (IAM mode).
    auth: Authorizer,
    in_flight: Arc<Semaphore>,
    retry: RetryPolicy,
    /// `ALGORITHMIA_MAX_REPLY_BYTES`: a reply is read up to this, never whole first.
    max_reply_bytes: usize,
}

struct HttpReply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl AlgorithmClient {
    /// An API-key client sending `key`; fails if the key cannot be sent in a header.
    pub fn new(settings: &AlgorithmiaSettings, key: ApiKey) -> Result<Self, ClientStartError> {
        let var = match &settings.auth {
            Auth::ApiKey(source) => source.variable(),
            Auth::Iam { .. } => ALGORITHMIA_API_KEY,
        };
        let mut authorization = HeaderValue::try_from(crate::v1::authorization_value(key.expose()))
            .map_err(|_| KeyError::NotHeaderSafe { var })?;
        authorization.set_sensitive(true);
        Self::build(settings, Authorizer::Key(authorization))
    }

    /// An IAM-mode client: `signer` signs every attempt; no API key is sent.
    pub fn signed(
        settings: &AlgorithmiaSettings,
        signer: IamSigner,
    ) -> Result<Self, ClientStartError> {
        Self::build(settings, Authorizer::Iam(signer))
    }

    fn build(settings: &AlgorithmiaSettings, auth: Authorizer) -> Result<Self, ClientStartError> {
        let builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60));
        let http = crate::trust::TrustRoots::system()
            .trusted_by(builder)
            .build()
            .map_err(|e| ClientStartError::Http(error_chain(&e)))?;
        Ok(Self {
            http,
            api: settings.api.trim_end_matches('/').into(),
            auth,
            in_flight: Arc::new(Semaphore::new(settings.max_concurrency)),
            retry: RetryPolicy::default(),
            max_reply_bytes: settings.max_reply_bytes,
        })
    }

    /// The cold-start half of every blueprint. API-key mode resolves the key (a KMS
    /// client and one or two Decrypt calls in KMS mode only); IAM mode takes the AWS
    /// config's credentials provider, which it asks on every call.
    pub async fn connect(
        settings: &AlgorithmiaSettings,
        aws: &SdkConfig,
    ) -> Result<Self, ClientStartError> {
        match &settings.auth {
            Auth::ApiKey(source) => Self::new(settings, source.resolve(aws).await?),
            Auth::Iam { region } => {
                let credentials = aws
                    .credentials_provider()
                    .ok_or(ClientStartError::NoCredentials)?;
                Self::signed(settings, IamSigner::new(credentials, region))
            }
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn api(&self) -> &str {
        &self.api
    }

    /// `ALGORITHMIA_MAX_REPLY_BYTES`, also the cap on an async result read from S3.
    pub fn max_reply_bytes(&self) -> usize {
        self.max_reply_bytes
    }

    /// Calls `algorithm` and reads the reply envelope. An `error` in the envelope is
    /// an error even with HTTP 200.
    pub async fn call(
        &self,
        algorithm: &AlgoPath,
        input: Input,
        options: &CallOptions,
    ) -> Result<AlgoResponse, AlgorithmError> {
        let reply = self
            .exchange(algorithm, input, options, OutputMode::Envelope)
            .await?;
        match parse_json::<Reply>(algorithm, &reply)? {
            Reply::Error { error, .. } => Err(AlgorithmError::Algorithm {
                algorithm: algorithm.to_string(),
                kind: error.kind(),
                message: error.message,
            }),
            Reply::Success { result, metadata } => {
                AlgoResponse::from_envelope(&algorithm.to_string(), result, metadata)
            }
        }
    }

    /// `output=raw`: the bare result, no envelope.
    pub async fn call_raw(
        &self,
        algorithm: &AlgoPath,
        input: Input,
        options: &CallOptions,
    ) -> Result<RawReply, AlgorithmError> {
        let reply = self
            .exchange(algorithm, input, options, OutputMode::Raw)
            .await?;
        Ok(RawReply {
            content_type: header_text(&reply.headers, CONTENT_TYPE.as_str()),
            body: reply.body,
        })
    }

    /// `output=void`: the API replies at once and the algorithm writes its result
    /// wherever its input says.
    pub async fn call_void(
        &self,
        algorithm: &AlgoPath,
        input: Input,
        options: &CallOptions,
    ) -> Result<AsyncReply, AlgorithmError> {
        let reply = self
            .exchange(algorithm, input, options, OutputMode::Void)
            .await?;
        if let Ok(Reply::Error { error, .. }) = serde_json::from_slice::<Reply>(&reply.body) {
            return Err(AlgorithmError::Algorithm {
                algorithm: algorithm.to_string(),
                kind: error.kind(),
                message: error.message,
            });
        }
        parse_json::<AsyncReply>(algorithm, &reply)
    }

    /// Sends the call, retrying what a retry can fix, within the attempt budget and
    /// the deadline. Returns a 2xx reply; every other status is an error. A call that
    /// sent at least one attempt counts in the invocation's metrics: its latency
    /// (retries and back-off included), its retries, and whether it failed.
    async fn exchange(
        &self,
        algorithm: &AlgoPath,
        input: Input,
        options: &CallOptions,
        mode: OutputMode,
    ) -> Result<HttpReply, AlgorithmError> {
        let started = Instant::now();
        let mut attempts = 0;
        let result = self
            .attempts(algorithm, input, options, mode, &mut attempts)
            .await;
        if attempts > 0 {
            let latency = started.elapsed();
            crate::metrics::record(|tally| tally.call(latency, attempts, result.is_ok()));
        }
        result
    }

    /// [`exchange`](Self::exchange)'s attempts; `sent` counts those actually sent.
    async fn attempts(
        &self,
        algorithm: &AlgoPath,
        input: Input,
        options: &CallOptions,
        mode: OutputMode,
        sent: &mut u32,
    ) -> Result<HttpReply, AlgorithmError> {
        let name = algorithm.to_string();
        let content_type = input.content_type();
        let body = bytes::Bytes::from(input.into_body()?);
        if body.len() > MAX_REQUEST_BYTES {
            return Err(AlgorithmError::InputTooLarge {
                algorithm: name,
                size: body.len(),
            });
        }
        let url = format!("{}/{}", self.api, algorithm.url_path());
        let algo_timeout = options
            .timeout
            .unwrap_or(Duration::from_secs(DEFAULT_TIMEOUT_SECS))
            .min(Duration::from_secs(MAX_TIMEOUT_SECS));
        let mut query = vec![("timeout", algo_timeout.as_secs().max(1).to_string())];
        if options.stdout {
            query.push(("stdout", "true".into()));
        }
        if let Some(output) = mode.query_value() {
            query.push(("output", output.into()));
        }

        let mut attempt = 0;
        let mut last_error: Option<AlgorithmError> = None;
        loop {
            attempt += 1;
            let mut budget = algo_timeout + REPLY_GRACE;
            if let Some(deadline) = options.deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left < MIN_ATTEMPT_TIME {
                    // The last attempt's error says more than "out of time".
                    return Err(last_error.unwrap_or(AlgorithmError::DeadlineExceeded {
                        algorithm: name,
                        attempts: attempt - 1,
                    }));
                }
                budget = budget.min(left);
            }
            *sent = attempt;
            let result = {
                let _permit =
                    self.in_flight
                        .acquire()
                        .await
                        .map_err(|_| AlgorithmError::Transport {
                            algorithm: name.clone(),
                            api: self.api.to_string(),
                            detail: "the client is shutting down".into(),
                        })?;
                let attempt = async {
                    let request = self
                        .request(&url, &query, content_type, &body, &name)
                        .await?;
                    self.send(request, &name).await
                };
                tokio::time::timeout(budget, attempt).await.unwrap_or(Err(
                    AlgorithmError::Timeout {
                        algorithm: name.clone(),
                        after: budget,
                    },
                ))
            };
            let error = match result {
                Ok(reply) => match self.classify(reply, &name, mode) {
                    Ok(reply) => return Ok(reply),
                    Err(error) => error,
                },
                Err(error) => error,
            };
            if !error.is_retryable() || attempt >= self.retry.max_attempts {
                return Err(error);
            }
            let floor = match &error {
                AlgorithmError::Throttled { retry_after, .. } => *retry_after,
                _ => None,
            };
            let pause = self.retry.delay(attempt, floor);
            if let Some(deadline) = options.deadline
                && Instant::now() + pause + MIN_ATTEMPT_TIME >= deadline
            {
                tracing::warn!(algorithm = %name, attempt, error = %error, "not retrying: the deadline is too near");
                return Err(error);
            }
            tracing::warn!(algorithm = %name, attempt, ?pause, error = %error, "retrying algorithm call");
            last_error = Some(error);
            tokio::time::sleep(pause).await;
        }
    }

    /// One attempt's request, authorized now: in IAM mode each attempt is signed
    /// afresh (new date, current credentials).
    async fn request(
        &self,
        url: &str,
        query: &[(&str, String)],
        content_type: &str,
        body: &bytes::Bytes,
        algorithm: &str,
    ) -> Result<reqwest::Request, AlgorithmError> {
        let mut request = self
            .http
            .post(url)
            .query(query)
            .header(CONTENT_TYPE, content_type)
            .body(body.clone())
            .build()
            .map_err(|e| self.transport(algorithm, &e))?;
        self.auth.apply(&mut request, body, algorithm).await?;
        Ok(request)
    }

    fn transport(&self, algorithm: &str, error: &reqwest::Error) -> AlgorithmError {
        AlgorithmError::Transport {
            algorithm: algorithm.to_owned(),
            api: self.api.to_string(),
            detail: error_chain(error),
        }
    }

    async fn send(
        &self,
        request: reqwest::Request,
        algorithm: &str,
    ) -> Result<HttpReply, AlgorithmError> {
        let transport = |e: reqwest::Error| self.transport(algorithm, &e);
        let mut response = self.http.execute(request).await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let limit = self.max_reply_bytes;
        let too_large = || AlgorithmError::ReplyTooLarge {
            algorithm: algorithm.to_owned(),
            limit,
        };
        // A failed call's body only feeds its message: keep its start, whatever its size.
        if status.is_success() && response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                if status.is_success() {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk[..limit - body.len()]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpReply {
            status,
            headers,
            body,
        })
    }

    fn classify(
        &self,
        reply: HttpReply,
        algorithm: &str,
        mode: OutputMode,
    ) -> Result<HttpReply, AlgorithmError> {
        let status = reply.status;
        if status.is_success() {
            return Ok(reply);
        }
        let algorithm = algorithm.to_owned();
        let message = error_message(&reply);
        let code = status.as_u16();
        Err(match code {
            400 if mode == OutputMode::Raw || has_error_envelope(&reply.body) => {
                AlgorithmError::Algorithm {
                    algorithm,
                    kind: error_kind(&reply.body),
                    message,
                }
            }
            401 | 403 => AlgorithmError::Unauthorized {
                algorithm,
                status: code,
                message,
                advice: self.auth.refusal_advice(),
            },
            404 => AlgorithmError::NotFound {
                algorithm,
                api: self.api.to_string(),
                message,
            },
            408 | 504 => AlgorithmError::Timeout {
                algorithm,
                after: Duration::ZERO,
            },
            429 => AlgorithmError::Throttled {
                algorithm,
                message,
                retry_after: header_text(&reply.headers, RETRY_AFTER.as_str())
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs),
            },
            500..=599 => AlgorithmError::Server {
                algorithm,
                status: code,
                message,
            },
            _ => AlgorithmError::Rejected {
                algorithm,
                status: code,
                message,
            },
        })
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    algorithm: &AlgoPath,
    reply: &HttpReply,
) -> Result<T, AlgorithmError> {
    serde_json::from_slice(&reply.body).map_err(|e| AlgorithmError::Protocol {
        algorithm: algorithm.to_string(),
        status: reply.status.as_u16(),
        detail: format!("{e}; body starts {:?}", snippet(&reply.body)),
    })
}

/// The kind an error body names (`output=raw` errors may carry an envelope too).
fn error_kind(body: &[u8]) -> ErrorKind {
    match serde_json::from_slice::<Reply>(body) {
        Ok(Reply::Error { error, .. }) => error.kind(),
        _ => ErrorKind::AlgorithmError,
    }
}

fn has_error_envelope(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.get("error").is_some())
        .unwrap_or(false)
}

/// The message of a failed reply: the `x-error-message` header, the envelope's
/// `error.message`, or the start of the body.
fn error_message(reply: &HttpReply) -> String {
    if let Some(message) = header_text(&reply.headers, ERROR_MESSAGE_HEADER) {
        return message;
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&reply.body) {
        match value.get("error") {
            Some(serde_json::Value::String(message)) => return message.clone(),
            Some(error) => {
                if let Some(message) = error.get("message").and_then(|m| m.as_str()) {
                    return message.to_owned();
                }
            }
            None => {}
        }
    }
    let text = snippet(&reply.body);
    if text.is_empty() {
        reply
            .status
            .canonical_reason()
            .unwrap_or("no message")
            .to_owned()
    } else {
        text
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

/// An error and its sources on one line (reqwest hides the cause in `source()`).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
