use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ErrorKind;

/// `metadata.content_type`: how to read `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Text,
    Json,
    /// `result` is base64.
    Binary,
    Void,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub content_type: ContentType,
    /// Seconds the algorithm ran.
    #[serde(default)]
    pub duration: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<String>>,
    /// The call's id (also the `x-request-id` header), so a reply can be matched to logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Metadata {
    pub fn new(content_type: ContentType, duration: f64) -> Self {
        Self {
            content_type,
            duration,
            stdout: None,
            alerts: None,
            request_id: None,
        }
    }
}

/// The `error` object of an error envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<String>,
    /// The same trace under the name the official Python client reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<ErrorKind>,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            stacktrace: None,
            stack_trace: None,
            error_type: None,
        }
    }

    /// The error with `trace` under both names clients read (`stacktrace`, `stack_trace`).
    pub fn with_stacktrace(self, trace: impl Into<String>) -> Self {
        let trace = trace.into();
        Self {
            stacktrace: Some(trace.clone()),
            stack_trace: Some(trace),
            ..self
        }
    }

    /// The trace, under whichever name the server sent it.
    pub fn trace(&self) -> Option<&str> {
        self.stacktrace.as_deref().or(self.stack_trace.as_deref())
    }

    pub fn typed(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            error_type: Some(kind),
            ..Self::new(message)
        }
    }

    /// The error's kind ([`ErrorKind::AlgorithmError`] when the server sent none).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::of(self.error_type.as_ref())
    }
}

/// A reply envelope. Algorithm errors come back with HTTP 200, so a reader must
/// always look for `error` before `result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    Error {
        error: ErrorBody,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<Metadata>,
    },
    Success {
        result: Value,
        metadata: Metadata,
    },
}

/// The reply to `output=void`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsyncReply {
    /// `true`, or a string naming the async mode (the service used `"void"`).
    #[serde(rename = "async")]
    pub mode: Value,
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_inside_a_success_shape_is_read_as_error() {
        let body = json!({"error": {"message": "boom", "error_type": "AlgorithmError"},
                          "metadata": {"content_type": "void", "duration": 0.1}});
        let reply: Reply = serde_json::from_value(body).expect("parses");
        assert!(matches!(reply, Reply::Error { ref error, .. } if error.message == "boom"));
    }

    #[test]
    fn success_round_trips_with_optional_fields_omitted() {
        let reply = Reply::Success {
            result: json!({"a": 1}),
            metadata: Metadata::new(ContentType::Json, 0.25),
        };
        let text = serde_json::to_string(&reply).expect("serialises");
        assert_eq!(
            text,
            r#"{"result":{"a":1},"metadata":{"content_type":"json","duration":0.25}}"#
        );
        assert_eq!(serde_json::from_str::<Reply>(&text).expect("parses"), reply);
    }

    #[test]
    fn async_reply_uses_the_async_key() {
        let reply: AsyncReply =
            serde_json::from_str(r#"{"async":"void","request_id":"req-1"}"#).expect("parses");
        assert_eq!(reply.request_id, "req-1");
        assert_eq!(reply.mode, json!("void"));
    }
}
