//! The environment contract every blueprint shares: each variable's name, once, and
//! the readers that turn a value into a setting or an error naming the variable.
//!
//! A leaf: it reads through a lookup function (`process_env` in `main`, a map in
//! tests) and depends on nothing else in this crate.

use crate::v1::{AlgoPath, PathError};

/// Base URL of the algorithm API.
pub const ALGORITHMIA_API: &str = "ALGORITHMIA_API";
/// How calls prove who sends them: [`AUTH_API_KEY`] (the default) or [`AUTH_IAM`].
pub const ALGORITHMIA_AUTH: &str = "ALGORITHMIA_AUTH";
/// `ALGORITHMIA_AUTH` value: send the API key (`ALGORITHMIA_API_KEY` or `_KMS`).
pub const AUTH_API_KEY: &str = "api-key";
/// `ALGORITHMIA_AUTH` value: sign each call with SigV4 and the function's role
/// credentials, for an `algo-server` behind a Function URL with `AuthType: AWS_IAM`.
pub const AUTH_IAM: &str = "iam";
/// The API key in plain text (basic mode).
pub const ALGORITHMIA_API_KEY: &str = "ALGORITHMIA_API_KEY";
/// Base64 KMS ciphertext of the API key (advanced mode).
pub const ALGORITHMIA_API_KEY_KMS: &str = "ALGORITHMIA_API_KEY_KMS";
/// Algorithm path `owner/name[/version]`; each blueprint has its own default.
pub const ALGORITHM: &str = "ALGORITHM";
/// Cap on algorithm calls in flight per process.
pub const ALGORITHMIA_MAX_CONCURRENCY: &str = "ALGORITHMIA_MAX_CONCURRENCY";
/// Cap on the bytes read of one reply from the algorithm endpoint, or of one async
/// result (`.pending` object); a bigger body fails its record without being read whole.
pub const ALGORITHMIA_MAX_REPLY_BYTES: &str = "ALGORITHMIA_MAX_REPLY_BYTES";
/// Set by Lambda: the function's memory in MB, which sizes the reply cap's default.
pub const AWS_LAMBDA_FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
/// Set by Lambda; the KMS encryption context of console-encrypted keys names it.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// Set by Lambda: the function's region, which IAM mode signs its calls for.
pub const AWS_REGION: &str = "AWS_REGION";

/// A setting that cannot be used, found at cold start. Each message names the
/// variable and what to set it to.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{var} is {value:?}: {problem}")]
    Invalid {
        var: &'static str,
        value: String,
        problem: String,
    },
    #[error("{var} is not set: {problem}")]
    Missing { var: &'static str, problem: String },
    #[error(
        "no API key: set {ALGORITHMIA_API_KEY} to the key, or {ALGORITHMIA_API_KEY_KMS} to its base64 KMS ciphertext, or {ALGORITHMIA_AUTH}={AUTH_IAM} to sign calls with the function's role instead (see docs/auth.md)"
    )]
    NoApiKey,
    #[error(
        "both {ALGORITHMIA_API_KEY} and {ALGORITHMIA_API_KEY_KMS} are set: keep exactly one (remove the plain key when using KMS)"
    )]
    BothApiKeys,
    /// IAM mode sends no key: a key setting beside it is a mistake, not a fallback.
    #[error(
        "{ALGORITHMIA_AUTH} is {AUTH_IAM}, which signs calls with the function's role and sends no API key, but an API key is set too ({vars}): remove it, or set {ALGORITHMIA_AUTH}={AUTH_API_KEY} to send the key (see docs/auth.md)"
    )]
    ApiKeyWithIam { vars: String },
}

impl SettingsError {
    pub fn invalid(
        var: &'static str,
        value: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            var,
            value: value.into(),
            problem: problem.into(),
        }
    }
}

/// The value of `var`, or `None` when it is unset or blank.
pub fn non_empty(env: &impl Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    env(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The whole number (at least 1) in `var`, or `default` when it is unset or blank.
pub fn positive<T>(
    env: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, SettingsError>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
{
    let Some(text) = non_empty(env, var) else {
        return Ok(default);
    };
    match text.parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        _ => Err(SettingsError::invalid(
            var,
            text,
            "must be a whole number of at least 1",
        )),
    }
}

/// The algorithm in `ALGORITHM`, or `default` (the blueprint's own) when unset.
pub fn algorithm(
    env: &impl Fn(&str) -> Option<String>,
    default: &str,
) -> Result<AlgoPath, SettingsError> {
    let text = non_empty(env, ALGORITHM).unwrap_or_else(|| default.to_owned());
    text.parse()
        .map_err(|e: PathError| SettingsError::invalid(ALGORITHM, text.clone(), e.to_string()))
}

/// `std::env` as a lookup function for the `from_env` readers.
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_names_the_variable_and_keeps_the_default() {
        let env = |k: &str| (k == "N").then(|| "zero".to_owned());
        let err = positive::<u32>(&env, "N", 3).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "N is \"zero\": must be a whole number of at least 1"
        );
        assert_eq!(positive::<u32>(&env, "M", 3).expect("default"), 3);
    }

    #[test]
    fn algorithm_defaults_and_names_the_variable() {
        let unset = |_: &str| None;
        assert_eq!(
            algorithm(&unset, "a/b/1.0.0").expect("default").to_string(),
            "a/b/1.0.0"
        );
        let bad = |k: &str| (k == ALGORITHM).then(|| "nope".to_owned());
        let err = algorithm(&bad, "a/b").expect_err("invalid");
        assert!(
            err.to_string().starts_with("ALGORITHM is \"nope\""),
            "{err}"
        );
    }
}
