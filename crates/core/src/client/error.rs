use std::time::Duration;

use lambda_runtime::Diagnostic;

use crate::env::{ALGORITHMIA_AUTH, AUTH_IAM};
use crate::v1::{ErrorKind, MAX_REQUEST_BYTES, PathError};

/// Everything an algorithm call can fail with. Messages name the algorithm and
/// the setting to check; they never contain the API key.
#[derive(Debug, thiserror::Error)]
pub enum AlgorithmError {
    #[error("invalid ALGORITHM path: {0}")]
    Path(#[from] PathError),
    #[error("could not encode the algorithm input as JSON: {0}")]
    Encode(String),
    #[error(
        "the input to {algorithm} is {size} bytes, over the API's {MAX_REQUEST_BYTES}-byte request limit; pass a URL to the data instead"
    )]
    InputTooLarge { algorithm: String, size: usize },
    /// The algorithm ran and reported an error (often inside an HTTP 200); its kind
    /// says whether the input is at fault.
    #[error("algorithm {algorithm} failed ({kind}): {message}")]
    Algorithm {
        algorithm: String,
        message: String,
        kind: ErrorKind,
    },
    /// 401 or 403; `advice` names the settings of the auth mode in use.
    #[error(
        "the algorithm API refused the call to {algorithm} (HTTP {status}): {message}. {advice}"
    )]
    Unauthorized {
        algorithm: String,
        status: u16,
        message: String,
        advice: String,
    },
    /// IAM mode: the call could not be signed (no credentials at that moment, mostly).
    #[error(
        "could not sign the call to {algorithm} with the function's AWS credentials ({ALGORITHMIA_AUTH}={AUTH_IAM}): {detail}"
    )]
    Signing {
        algorithm: String,
        detail: String,
        /// The credentials provider timed out or failed on its way: another try may do.
        retryable: bool,
    },
    #[error(
        "algorithm {algorithm} was not found at {api} (HTTP 404): {message}. Check ALGORITHM and ALGORITHMIA_API"
    )]
    NotFound {
        algorithm: String,
        api: String,
        message: String,
    },
    #[error("the algorithm API rejected the call to {algorithm} (HTTP {status}): {message}")]
    Rejected {
        algorithm: String,
        status: u16,
        message: String,
    },
    #[error("the algorithm API is throttling calls to {algorithm} (HTTP 429): {message}")]
    Throttled {
        algorithm: String,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the algorithm API failed calling {algorithm} (HTTP {status}): {message}")]
    Server {
        algorithm: String,
        status: u16,
        message: String,
    },
    #[error("calling {algorithm} timed out after {after:?}")]
    Timeout { algorithm: String, after: Duration },
    #[error(
        "no time left to call {algorithm} before the invocation deadline (after {attempts} attempts)"
    )]
    DeadlineExceeded { algorithm: String, attempts: u32 },
    #[error("could not reach the algorithm API at {api} calling {algorithm}: {detail}")]
    Transport {
        algorithm: String,
        api: String,
        detail: String,
    },
    #[error("the reply from {algorithm} (HTTP {status}) is not the Algorithmia protocol: {detail}")]
    Protocol {
        algorithm: String,
        status: u16,
        detail: String,
    },
    #[error(
        "the reply from {algorithm} is over ALGORITHMIA_MAX_REPLY_BYTES ({limit} bytes): not read further. Ask the algorithm for a smaller result, or raise ALGORITHMIA_MAX_REPLY_BYTES with the function's memory"
    )]
    ReplyTooLarge { algorithm: String, limit: usize },
    #[error("the result does not decode as {expected}: {detail}")]
    Decode {
        expected: &'static str,
        detail: String,
    },
}

impl AlgorithmError {
    /// Whether the client itself tries the call again at once (within its attempt
    /// budget): throttling, 5xx, timeouts and transport failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AlgorithmError::Throttled { .. }
                | AlgorithmError::Server { .. }
                | AlgorithmError::Timeout { .. }
                | AlgorithmError::DeadlineExceeded { .. }
                | AlgorithmError::Transport { .. }
                | AlgorithmError::Signing {
                    retryable: true,
                    ..
                }
        )
    }

    /// The one rule for what a failure means for the record behind the call: the input
    /// is at fault (so the record is rejected, never retried) only when the algorithm
    /// said `InputError`, or the input is over the request limit. Every other failure
    /// (a missing model, a server-side timeout, a failed fetch, a reply of the wrong
    /// shape, configuration an operator must fix) is retried by the event source and,
    /// once its retries are spent, reaches the failure destination.
    pub fn is_input_problem(&self) -> bool {
        match self {
            AlgorithmError::Algorithm { kind, .. } => kind.is_input_error(),
            AlgorithmError::InputTooLarge { .. } => true,
            _ => false,
        }
    }

    /// A short name of the kind of failure, for `Diagnostic::error_type` and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AlgorithmError::Path(_) => "InvalidAlgorithmPath",
            AlgorithmError::Encode(_) => "InputEncoding",
            AlgorithmError::InputTooLarge { .. } => "InputTooLarge",
            AlgorithmError::Algorithm { .. } => "AlgorithmError",
            AlgorithmError::Unauthorized { .. } => "Unauthorized",
            AlgorithmError::Signing { .. } => "Signing",
            AlgorithmError::NotFound { .. } => "AlgorithmNotFound",
            AlgorithmError::Rejected { .. } => "Rejected",
            AlgorithmError::Throttled { .. } => "Throttled",
            AlgorithmError::Server { .. } => "ServerError",
            AlgorithmError::Timeout { .. } => "Timeout",
            AlgorithmError::DeadlineExceeded { .. } => "DeadlineExceeded",
            AlgorithmError::Transport { .. } => "Transport",
            AlgorithmError::Protocol { .. } => "ProtocolError",
            AlgorithmError::ReplyTooLarge { .. } => "ReplyTooLarge",
            AlgorithmError::Decode { .. } => "ResultDecoding",
        }
    }
}

impl From<AlgorithmError> for Diagnostic {
    fn from(error: AlgorithmError) -> Self {
        crate::lambda::diagnostic(error.is_retryable(), error.kind(), &error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn algorithm_error(kind: ErrorKind) -> AlgorithmError {
        AlgorithmError::Algorithm {
            algorithm: "a/b".into(),
            message: "m".into(),
            kind,
        }
    }

    #[test]
    fn only_input_errors_blame_the_input() {
        assert!(algorithm_error(ErrorKind::InputError).is_input_problem());
        for kind in [
            ErrorKind::AlgorithmError,
            ErrorKind::TimeoutError,
            ErrorKind::Other("DependencyError".into()),
        ] {
            assert!(!algorithm_error(kind).is_input_problem());
        }
        let too_large = AlgorithmError::InputTooLarge {
            algorithm: "a/b".into(),
            size: MAX_REQUEST_BYTES + 1,
        };
        assert!(too_large.is_input_problem());
        let shape = AlgorithmError::Decode {
            expected: "Reply",
            detail: "missing field".into(),
        };
        assert!(
            !shape.is_input_problem(),
            "a reply of the wrong shape is retried"
        );
    }
}
