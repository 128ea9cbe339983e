//! The v1 protocol at the HTTP edge: reading a call (query, body by content type) and
//! writing its reply (envelope, raw, async) or an error with the right status.

use std::collections::BTreeMap;
use std::time::Duration;

use algorithmia_v1::{
    AsyncReply, ContentType, ERROR_MESSAGE_HEADER, ErrorBody, ErrorKind, Metadata, OutputMode,
    Reply, mime,
};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use crate::algorithm::{AlgoError, Input, Output};

/// How one call wants to be run and answered.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOptions {
    pub timeout: Duration,
    pub output: OutputMode,
    /// `stdout=true`: the reply's `metadata.stdout` carries what the algorithm printed.
    pub stdout: bool,
    /// Every other query parameter, for the algorithm.
    pub params: BTreeMap<String, String>,
}

impl CallOptions {
    /// Reads `timeout` (seconds; above `max` it is lowered to `max`), `output` and
    /// `stdout` (`true`/`false` in any case, as the Python client sends `True`).
    pub fn from_query(query: Option<&str>, default: u64, max: u64) -> Result<Self, CallError> {
        let mut options = CallOptions {
            timeout: Duration::from_secs(default),
            output: OutputMode::Envelope,
            stdout: false,
            params: BTreeMap::new(),
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "timeout" => {
                    let secs = value.parse::<u64>().ok().filter(|secs| *secs > 0).ok_or_else(|| {
                        CallError::BadRequest(format!(
                            "query parameter `timeout` must be a whole number of seconds above 0, not {value:?}"
                        ))
                    })?;
                    options.timeout = Duration::from_secs(secs.min(max));
                }
                "output" => {
                    options.output = OutputMode::from_query_value(&value).ok_or_else(|| {
                        CallError::BadRequest(format!(
                            "query parameter `output` must be `raw` or `void`, not {value:?}"
                        ))
                    })?;
                }
                "stdout" => {
                    options.stdout = match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        _ => {
                            return Err(CallError::BadRequest(format!(
                                "query parameter `stdout` must be `true` or `false`, not {value:?}"
                            )));
                        }
                    };
                }
                _ => {
                    options.params.insert(name.into_owned(), value.into_owned());
                }
            }
        }
        Ok(options)
    }
}

/// Reads the body as JSON, text or bytes according to its `Content-Type`. A missing or
/// unknown type means bytes.
pub fn parse_input(content_type: Option<&HeaderValue>, body: Bytes) -> Result<Input, CallError> {
    let essence = content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let is_json = essence == mime::JSON || essence.ends_with("+json");
    let is_text = essence.starts_with("text/") || essence == "application/text";
    if is_json {
        serde_json::from_slice(&body)
            .map(Input::Json)
            .map_err(|error| {
                CallError::BadRequest(format!(
                    "the request body is not valid JSON (Content-Type: {essence}): {error}"
                ))
            })
    } else if is_text {
        String::from_utf8(body.to_vec()).map(Input::Text).map_err(|_| {
            CallError::BadRequest(format!(
                "the request body is not valid UTF-8 text (Content-Type: {essence}); send bytes as {}",
                mime::BINARY
            ))
        })
    } else {
        Ok(Input::Binary(body))
    }
}

/// A call that never reached (or never finished in) its algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than the server's limit of {0} bytes (--max-body-bytes)")]
    TooLarge(usize),
    #[error("the request body did not arrive in full within {0} s (--body-read-timeout)")]
    BodyTimeout(u64),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
}

impl CallError {
    pub fn status(&self) -> StatusCode {
        match self {
            CallError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            CallError::NotFound(_) => StatusCode::NOT_FOUND,
            CallError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CallError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CallError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            CallError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            CallError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            CallError::Unauthorized(_) => ErrorKind::AuthError,
            CallError::NotFound(_) => ErrorKind::NotFound,
            CallError::BadRequest(_) => ErrorKind::BadRequest,
            CallError::TooLarge(_) => ErrorKind::PayloadTooLarge,
            CallError::BodyTimeout(_) => ErrorKind::BadRequest,
            CallError::Busy(_) => ErrorKind::TooManyRequests,
            CallError::Internal(_) => ErrorKind::InternalError,
        }
    }
}

impl IntoResponse for CallError {
    fn into_response(self) -> Response {
        let reply = Reply::Error {
            error: ErrorBody::typed(self.kind(), self.to_string()),
            metadata: None,
        };
        let mut response = error_response(self.status(), &reply, &self.to_string());
        if let CallError::Busy(_) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// What a reply's envelope says besides the result.
#[derive(Debug, Clone, Default)]
pub struct ReplyInfo {
    /// `metadata.request_id` (also the `x-request-id` header).
    pub request_id: Option<String>,
    /// `metadata.stdout`, when the call asked for it.
    pub stdout: Option<String>,
    /// `owner/name/version`, named in an error's stack trace.
    pub algorithm: String,
}

impl ReplyInfo {
    fn metadata(&self, content_type: ContentType, seconds: f64) -> Metadata {
        let mut metadata = Metadata::new(content_type, seconds);
        metadata.request_id = self.request_id.clone();
        metadata.stdout = self.stdout.clone();
        metadata
    }
}

/// The reply to a call whose algorithm ran, in the mode the caller asked for.
pub fn algorithm_reply(
    outcome: Result<Output, AlgoError>,
    duration: Duration,
    mode: OutputMode,
    info: ReplyInfo,
) -> Response {
    let seconds = duration.as_secs_f64();
    match (outcome, mode) {
        (Ok(output), OutputMode::Raw) => raw_response(output),
        (Ok(output), _) => {
            let metadata = info.metadata(output.content_type(), seconds);
            let result = match output {
                Output::Json(value) => value,
                Output::Text(text) => Value::String(text),
                Output::Binary(bytes) => {
                    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
                Output::Void => Value::Null,
            };
            json_response(StatusCode::OK, &Reply::Success { result, metadata })
        }
        (Err(error), mode) => {
            // The server's own trace: where the error arose (algorithms are not scripts
            // with interpreter stacks); under both names clients read.
            let mut trace = format!(
                "{}: {}\n    in algorithm {}",
                error.kind, error.message, info.algorithm
            );
            if let Some(id) = &info.request_id {
                trace.push_str(&format!("\n    request {id}"));
            }
            let reply = Reply::Error {
                error: ErrorBody::typed(error.kind.clone(), error.message.clone())
                    .with_stacktrace(trace),
                metadata: Some(info.metadata(ContentType::Void, seconds)),
            };
            // Algorithm errors are HTTP 200 in an envelope; raw output has no envelope.
            let status = match mode {
                OutputMode::Raw => StatusCode::BAD_REQUEST,
                _ => StatusCode::OK,
            };
            error_response(status, &reply, &error.message)
        }
    }
}

/// The immediate reply to `output=void`.
/// `query` without its `output` parameter: how a queued `output=void` call runs later.
pub fn query_without_output(query: Option<&str>) -> String {
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, _)| name != "output");
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub fn async_reply(request_id: &str) -> Response {
    let reply = AsyncReply {
        mode: Value::String("void".to_owned()),
        request_id: request_id.to_owned(),
    };
    json_response(StatusCode::OK, &reply)
}

fn raw_response(output: Output) -> Response {
    match output {
        Output::Json(value) => json_response(StatusCode::OK, &value),
        Output::Text(text) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Output::Binary(bytes) => ([(header::CONTENT_TYPE, mime::BINARY)], bytes).into_response(),
        Output::Void => StatusCode::NO_CONTENT.into_response(),
    }
}

pub fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, mime::JSON)], bytes).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not serialise the reply: {error}"),
        )
            .into_response(),
    }
}

pub(crate) fn error_response(status: StatusCode, reply: &Reply, message: &str) -> Response {
    let mut response = json_response(status, reply);
    // Clients that cannot read the body still see the message.
    let header_text: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(512)
        .collect();
    if let Ok(value) = HeaderValue::from_str(&header_text) {
        response.headers_mut().insert(ERROR_MESSAGE_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_options() {
        let options = CallOptions::from_query(
            Some("timeout=5000&output=raw&width=10&stdout=true"),
            300,
            3000,
        )
        .expect("valid");
        assert_eq!(options.timeout, Duration::from_secs(3000));
        assert_eq!(options.output, OutputMode::Raw);
        assert!(options.stdout);
        for (value, wanted) in [("True", true), ("False", false), ("false", false)] {
            let query = format!("stdout={value}");
            let options = CallOptions::from_query(Some(&query), 300, 3000).expect("valid");
            assert_eq!(options.stdout, wanted, "{value}");
        }
        assert!(CallOptions::from_query(Some("stdout=maybe"), 300, 3000).is_err());
        assert_eq!(options.params.get("width").map(String::as_str), Some("10"));
        let error = CallOptions::from_query(Some("timeout=soon"), 300, 3000).expect_err("invalid");
        assert!(error.to_string().contains("`timeout`"));
        let error = CallOptions::from_query(Some("output=file"), 300, 3000).expect_err("invalid");
        assert!(error.to_string().contains("`output`"));
    }

    #[test]
    fn body_kinds_follow_content_type() {
        let json = HeaderValue::from_static("application/json; charset=utf-8");
        let text = HeaderValue::from_static("text/plain");
        assert_eq!(
            parse_input(Some(&json), Bytes::from_static(b"[1]")).expect("json"),
            Input::Json(serde_json::json!([1]))
        );
        assert_eq!(
            parse_input(Some(&text), Bytes::from_static(b"hi")).expect("text"),
            Input::Text("hi".into())
        );
        assert_eq!(
            parse_input(None, Bytes::from_static(b"\xff")).expect("bytes"),
            Input::Binary(Bytes::from_static(b"\xff"))
        );
        assert!(parse_input(Some(&json), Bytes::from_static(b"{")).is_err());
    }
}
