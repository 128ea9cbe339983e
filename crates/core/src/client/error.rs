use std::time::Duration;

use lambda_runtime::Diagnostic;

use crate::v1::{MAX_REQUEST_BYTES, PathError};

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
    /// The algorithm ran and reported an error (often inside an HTTP 200).
    #[error("algorithm {algorithm} failed: {message}")]
    Algorithm {
        algorithm: String,
        message: String,
        error_type: Option<String>,
    },
    #[error(
        "the algorithm API refused the API key (HTTP {status}) calling {algorithm}: {message}. Check ALGORITHMIA_API_KEY or ALGORITHMIA_API_KEY_KMS, and that the key may call this algorithm"
    )]
    Unauthorized {
        algorithm: String,
        status: u16,
        message: String,
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
    #[error("the result does not decode as {expected}: {detail}")]
    Decode {
        expected: &'static str,
        detail: String,
    },
}

impl AlgorithmError {
    /// Whether the same call could succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AlgorithmError::Throttled { .. }
                | AlgorithmError::Server { .. }
                | AlgorithmError::Timeout { .. }
                | AlgorithmError::DeadlineExceeded { .. }
                | AlgorithmError::Transport { .. }
        )
    }

    /// Whether the input is at fault, so the same call can never succeed: the
    /// algorithm rejected it (often inside an HTTP 200), it is over the request limit,
    /// or its result is not what the caller expects.
    pub fn is_input_problem(&self) -> bool {
        matches!(
            self,
            AlgorithmError::Algorithm { .. }
                | AlgorithmError::InputTooLarge { .. }
                | AlgorithmError::Decode { .. }
        )
    }

    /// A short name of the kind of failure, for `Diagnostic::error_type` and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AlgorithmError::Path(_) => "InvalidAlgorithmPath",
            AlgorithmError::Encode(_) => "InputEncoding",
            AlgorithmError::InputTooLarge { .. } => "InputTooLarge",
            AlgorithmError::Algorithm { .. } => "AlgorithmError",
            AlgorithmError::Unauthorized { .. } => "Unauthorized",
            AlgorithmError::NotFound { .. } => "AlgorithmNotFound",
            AlgorithmError::Rejected { .. } => "Rejected",
            AlgorithmError::Throttled { .. } => "Throttled",
            AlgorithmError::Server { .. } => "ServerError",
            AlgorithmError::Timeout { .. } => "Timeout",
            AlgorithmError::DeadlineExceeded { .. } => "DeadlineExceeded",
            AlgorithmError::Transport { .. } => "Transport",
            AlgorithmError::Protocol { .. } => "ProtocolError",
            AlgorithmError::Decode { .. } => "ResultDecoding",
        }
    }
}

impl From<AlgorithmError> for Diagnostic {
    fn from(error: AlgorithmError) -> Self {
        crate::lambda::diagnostic(error.is_retryable(), error.kind(), &error)
    }
}
