//! Durable `output=void` calls on Lambda. Lambda freezes a function once it has
//! answered, so nothing may run after the `{"async": "void"}` reply. Instead the
//! function queues the call as an asynchronous invocation of itself
//! (`X-Amz-Invocation-Type: Event`): Lambda keeps the event, runs it as a plain call in
//! another invocation, retries it when that invocation fails (`MaximumRetryAttempts`),
//! and then hands it to the function's on-failure destination. The call's algorithm
//! writes its result, or its error, to the caller's `output_url`.
//!
//! The job travels as a Function URL event (payload format 2.0) that `lambda_http` reads
//! like any other; it is told apart by a field only an invocation can set
//! (`requestContext.authorizer.lambda`, which Function URLs never fill).

use std::fmt;
use std::time::{Duration, SystemTime};

use algorithmia_v1::{ErrorKind, Reply};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use serde_json::{Value, json};

use crate::protocol::CallError;
use crate::server::{Job, JobQueue};

/// The field of `requestContext.authorizer.lambda` that marks a queued job.
pub const JOB_FIELD: &str = "algo_server_job";
/// Lambda's limit on the payload of an asynchronous invocation.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
const INVOKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Queues jobs as asynchronous invocations of this function, through the Lambda
/// Invoke API, signed with the function's own role credentials.
pub struct SelfInvoke {
    http: reqwest::Client,
    invoke_url: String,
    region: String,
}

impl fmt::Debug for SelfInvoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfInvoke")
            .field("invoke_url", &self.invoke_url)
            .finish_non_exhaustive()
    }
}

impl SelfInvoke {
    /// From what Lambda sets (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_REGION`); the Invoke
    /// API's endpoint may be moved with `AWS_ENDPOINT_URL_LAMBDA`, as for the SDKs.
    pub fn from_env() -> Result<Self, String> {
        let variable = |name: &str| {
            std::env::var(name).map_err(|_| format!("{name} is not set (Lambda sets it)"))
        };
        let function = variable("AWS_LAMBDA_FUNCTION_NAME")?;
        let region = variable("AWS_REGION")?;
        let endpoint = std::env::var("AWS_ENDPOINT_URL_LAMBDA")
            .unwrap_or_else(|_| format!("https://lambda.{region}.amazonaws.com"));
        let http = reqwest::Client::builder()
            .timeout(INVOKE_TIMEOUT)
            .build()
            .map_err(|error| format!("cannot build the Invoke API client: {error}"))?;
        Ok(Self {
            http,
            invoke_url: format!(
                "{}/2015-03-31/functions/{function}/invocations",
                endpoint.trim_end_matches('/')
            ),
            region,
        })
    }

    async fn invoke(&self, payload: Vec<u8>) -> Result<(), CallError> {
        let unavailable =
            |detail: String| CallError::Internal(format!("could not queue the call: {detail}"));
        let mut request = self
            .http
            .post(&self.invoke_url)
            .header("x-amz-invocation-type", "Event")
            .header("content-type", "application/json")
            .body(payload.clone())
            .build()
            .map_err(|error| unavailable(error.to_string()))?;
        self.sign(&mut request, &payload).map_err(unavailable)?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|error| unavailable(error.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(unavailable(format!(
            "the Lambda Invoke API answered {status}: {}",
            text.chars().take(300).collect::<String>()
        )))
    }

    /// Signs with the credentials Lambda gives the function in its environment.
    fn sign(&self, request: &mut reqwest::Request, body: &[u8]) -> Result<(), String> {
        let variable = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let credentials = Credentials::new(
            variable("AWS_ACCESS_KEY_ID")?,
            variable("AWS_SECRET_ACCESS_KEY")?,
            std::env::var("AWS_SESSION_TOKEN").ok(),
            None,
            "lambda-environment",
        );
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| error.to_string())?
            .into();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.url().as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|error| error.to_string())?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|error| error.to_string())?
            .into_parts();
        for header in instructions.into_parts().0 {
            let name = reqwest::header::HeaderName::from_bytes(header.name().as_bytes())
                .map_err(|error| error.to_string())?;
            let mut value = reqwest::header::HeaderValue::from_str(header.value())
                .map_err(|_| format!("the signer's {name} is not a header value"))?;
            value.set_sensitive(true);
            request.headers_mut().insert(name, value);
        }
        Ok(())
    }
}

impl JobQueue for SelfInvoke {
    fn enqueue(
        &self,
        job: Job,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), CallError>> + Send + '_>> {
        Box::pin(async move {
            let payload = serde_json::to_vec(&event(&job))
                .map_err(|error| CallError::Internal(error.to_string()))?;
            if payload.len() > MAX_EVENT_BYTES {
                return Err(CallError::BadRequest(format!(
                    "output=void on Lambda queues the call as an asynchronous invocation, \
                     which holds at most {} KB, and this call's body is {} bytes ({} as \
                     the event): send the media as a URL, not as bytes",
                    MAX_EVENT_BYTES / 1024,
                    job.body.len(),
                    payload.len()
                )));
            }
            tracing::info!(algorithm = %job.algorithm, request_id = %job.request_id, "queueing an output=void call");
            self.invoke(payload).await
        })
    }
}

/// The Function URL event (payload format 2.0) that runs `job` as a plain call.
pub fn event(job: &Job) -> Value {
    let path = format!("/v1/algo/{}", job.algorithm);
    let mut headers = serde_json::Map::new();
    if let Some(content_type) = &job.content_type {
        headers.insert("content-type".into(), json!(content_type));
    }
    headers.insert("x-request-id".into(), json!(job.request_id));
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": job.query,
        "headers": headers,
        "requestContext": {
            "routeKey": "$default",
            "stage": "$default",
            "requestId": job.request_id,
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "algo-server-job"
            },
            "authorizer": {"lambda": {JOB_FIELD: {"request_id": job.request_id}}}
        },
        "body": base64::engine::general_purpose::STANDARD.encode(&job.body),
        "isBase64Encoded": true
    })
}

/// A job event's request id, when `request` is one.
pub fn job_of<B>(request: &axum::http::Request<B>) -> Option<QueuedJob> {
    let RequestContext::ApiGatewayV2(context) = request.extensions().get::<RequestContext>()?
    else {
        return None;
    };
    let job = context.authorizer.as_ref()?.fields.get(JOB_FIELD)?;
    Some(QueuedJob {
        request_id: job["request_id"].as_str().unwrap_or("-").to_owned(),
    })
}

/// A job being run.
#[derive(Debug)]
pub struct QueuedJob {
    request_id: String,
}

/// A job that failed in a way a retry may mend: the invocation fails, so Lambda
/// retries it and then hands it to the on-failure destination.
#[derive(Debug, thiserror::Error)]
#[error("output=void call {request_id} failed ({kind}): {message}")]
pub struct JobFailed {
    request_id: String,
    kind: String,
    message: String,
}

impl QueuedJob {
    /// Ends the invocation by the call's outcome. Success, or an `InputError` (written
    /// to the caller's `output_url` by the algorithm; a retry would fail the same way),
    /// ends it well; any other failure fails it.
    pub async fn outcome(self, response: Response) -> Result<Response, JobFailed> {
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let failure = match serde_json::from_slice::<Reply>(&bytes) {
            Ok(Reply::Error { error, .. }) => Some((error.kind(), error.message)),
            _ if !parts.status.is_success() => Some((
                ErrorKind::of(None),
                String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            )),
            _ => None,
        };
        match failure {
            None => {
                tracing::info!(request_id = %self.request_id, "output=void call done");
            }
            Some((kind, message)) if kind.is_input_error() => {
                tracing::warn!(request_id = %self.request_id, %message, "output=void call refused its input; not retried");
            }
            Some((kind, message)) => {
                return Err(JobFailed {
                    request_id: self.request_id,
                    kind: kind.to_string(),
                    message,
                });
            }
        }
        Ok(Response::from_parts(parts, Body::from(bytes)))
    }
}

impl From<JobFailed> for lambda_http::lambda_runtime::Diagnostic {
    fn from(failed: JobFailed) -> Self {
        Self {
            error_type: "AlgoServerJobFailed".to_owned(),
            error_message: failed.to_string(),
        }
    }
}
