//! `error.error_type`: the kind of a failed call, sent by the server and read by the
//! client to decide what a failure means for the record that caused it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds a reply's `error.error_type` names. Only [`ErrorKind::InputError`] says
/// the input is at fault; every other kind may pass on a later try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ErrorKind {
    /// The input is wrong: the same call can never succeed.
    InputError,
    /// The algorithm failed on a valid input, or could not run (a missing model, a
    /// failed fetch of the input's URL).
    AlgorithmError,
    /// The call ran past its timeout and was abandoned.
    TimeoutError,
    /// HTTP 401: the API key was refused.
    AuthError,
    /// HTTP 404: no such algorithm or version.
    NotFound,
    /// HTTP 400 from the server itself (a malformed request, not an algorithm's verdict).
    BadRequest,
    /// HTTP 413: the body is over the server's limit.
    PayloadTooLarge,
    /// HTTP 429: the server is at capacity.
    TooManyRequests,
    /// HTTP 500: the server failed.
    InternalError,
    /// A kind this crate does not know, as sent.
    Other(String),
}

impl ErrorKind {
    pub fn as_str(&self) -> &str {
        match self {
            ErrorKind::InputError => "InputError",
            ErrorKind::AlgorithmError => "AlgorithmError",
            ErrorKind::TimeoutError => "TimeoutError",
            ErrorKind::AuthError => "AuthError",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::BadRequest => "BadRequest",
            ErrorKind::PayloadTooLarge => "PayloadTooLarge",
            ErrorKind::TooManyRequests => "TooManyRequests",
            ErrorKind::InternalError => "InternalError",
            ErrorKind::Other(other) => other,
        }
    }

    /// The kind of an error envelope; one without `error_type` (older servers) is an
    /// algorithm error, which a later try may get past.
    pub fn of(error_type: Option<&ErrorKind>) -> ErrorKind {
        error_type.cloned().unwrap_or(ErrorKind::AlgorithmError)
    }

    /// Whether the input is at fault, so retrying the same call cannot help.
    pub fn is_input_error(&self) -> bool {
        matches!(self, ErrorKind::InputError)
    }
}

impl From<String> for ErrorKind {
    fn from(text: String) -> Self {
        match text.as_str() {
            "InputError" => ErrorKind::InputError,
            "AlgorithmError" => ErrorKind::AlgorithmError,
            "TimeoutError" => ErrorKind::TimeoutError,
            "AuthError" => ErrorKind::AuthError,
            "NotFound" => ErrorKind::NotFound,
            "BadRequest" => ErrorKind::BadRequest,
            "PayloadTooLarge" => ErrorKind::PayloadTooLarge,
            "TooManyRequests" => ErrorKind::TooManyRequests,
            "InternalError" => ErrorKind::InternalError,
            _ => ErrorKind::Other(text),
        }
    }
}

impl From<ErrorKind> for String {
    fn from(kind: ErrorKind) -> Self {
        kind.as_str().to_owned()
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_ones_are_kept() {
        for kind in [
            ErrorKind::InputError,
            ErrorKind::AlgorithmError,
            ErrorKind::TimeoutError,
            ErrorKind::TooManyRequests,
            ErrorKind::Other("DependencyError".into()),
        ] {
            let text = serde_json::to_string(&kind).expect("serialises");
            assert_eq!(
                serde_json::from_str::<ErrorKind>(&text).expect("parses"),
                kind
            );
        }
        assert_eq!(
            serde_json::to_string(&ErrorKind::InputError).expect("serialises"),
            "\"InputError\""
        );
    }

    #[test]
    fn only_input_errors_blame_the_input() {
        assert!(ErrorKind::InputError.is_input_error());
        assert!(!ErrorKind::AlgorithmError.is_input_error());
        assert!(!ErrorKind::TimeoutError.is_input_error());
        assert!(!ErrorKind::of(None).is_input_error());
    }
}
