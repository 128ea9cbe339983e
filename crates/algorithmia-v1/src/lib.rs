//! The Algorithmia v1 algorithm API, as data: request options, reply envelopes and
//! algorithm paths. Defined once here and shared by the Lambda client
//! (`blueprint-core`) and the self-hosted server (`algo-server`).

pub mod contracts;
mod envelope;
mod error_kind;
mod path;

pub use envelope::{AsyncReply, ContentType, ErrorBody, Metadata, Reply};
pub use error_kind::ErrorKind;
pub use path::{AlgoPath, PathError, Version, VersionSpec};

/// Largest request body the API accepts (10 MiB).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// Algorithm timeout when the caller gives none, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// Largest algorithm timeout a caller may ask for, in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 3000;
/// Header that carries the error message on replies whose body is not an envelope.
pub const ERROR_MESSAGE_HEADER: &str = "x-error-message";

/// Content types of a request body, by kind of input.
pub mod mime {
    pub const JSON: &str = "application/json";
    pub const TEXT: &str = "text/plain";
    pub const BINARY: &str = "application/octet-stream";
}

/// What the caller wants back (`output` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// The `{"result", "metadata"}` envelope.
    #[default]
    Envelope,
    /// `output=raw`: the bare result; an algorithm error becomes HTTP 400.
    Raw,
    /// `output=void`: reply at once; the algorithm writes its result elsewhere.
    Void,
}

impl OutputMode {
    /// The value of the `output` query parameter, if any.
    pub fn query_value(self) -> Option<&'static str> {
        match self {
            OutputMode::Envelope => None,
            OutputMode::Raw => Some("raw"),
            OutputMode::Void => Some("void"),
        }
    }

    pub fn from_query_value(value: &str) -> Option<Self> {
        match value {
            "raw" => Some(OutputMode::Raw),
            "void" => Some(OutputMode::Void),
            "" | "default" => Some(OutputMode::Envelope),
            _ => None,
        }
    }
}

/// The key inside an `Authorization` header: `Simple <key>`, or the bare key that
/// old clients sent.
pub fn key_from_authorization(header: &str) -> &str {
    let header = header.trim();
    match header.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("simple") => key.trim(),
        _ => header,
    }
}

/// The `Authorization` header value for a key.
pub fn authorization_value(key: &str) -> String {
    format!("Simple {key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_accepts_simple_and_bare_keys() {
        assert_eq!(key_from_authorization("Simple sim123"), "sim123");
        assert_eq!(key_from_authorization("simple  sim123 "), "sim123");
        assert_eq!(key_from_authorization("sim123"), "sim123");
        assert_eq!(authorization_value("k"), "Simple k");
    }

    #[test]
    fn output_modes_round_trip() {
        for mode in [OutputMode::Raw, OutputMode::Void] {
            let value = mode.query_value().expect("has a value");
            assert_eq!(OutputMode::from_query_value(value), Some(mode));
        }
        assert_eq!(OutputMode::Envelope.query_value(), None);
        assert_eq!(OutputMode::from_query_value("bogus"), None);
    }
}
