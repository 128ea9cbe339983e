//! The environment contract shared by every blueprint (names in one place).

use std::time::Duration;

use crate::api_key::{KeyError, KeySource};

/// Base URL of the algorithm API.
pub const ALGORITHMIA_API: &str = "ALGORITHMIA_API";
/// The API key in plain text (basic mode).
pub const ALGORITHMIA_API_KEY: &str = "ALGORITHMIA_API_KEY";
/// Base64 KMS ciphertext of the API key (advanced mode).
pub const ALGORITHMIA_API_KEY_KMS: &str = "ALGORITHMIA_API_KEY_KMS";
/// Algorithm path `owner/name[/version]`; each blueprint has its own default.
pub const ALGORITHM: &str = "ALGORITHM";
/// Cap on algorithm calls in flight per process.
pub const ALGORITHMIA_MAX_CONCURRENCY: &str = "ALGORITHMIA_MAX_CONCURRENCY";
/// Set by Lambda; the KMS encryption context of console-encrypted keys names it.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

pub const DEFAULT_API: &str = "https://api.algorithmia.com";
/// Algorithmia's default account concurrency.
pub const DEFAULT_MAX_CONCURRENCY: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{var} is {value:?}: {problem}")]
    Invalid {
        var: &'static str,
        value: String,
        problem: String,
    },
}

/// What a blueprint needs to reach the algorithm API, read from the environment
/// once per cold start.
#[derive(Debug, Clone)]
pub struct AlgorithmiaSettings {
    pub api: String,
    pub key: KeySource,
    pub max_concurrency: usize,
    pub function_name: Option<String>,
    /// Time allowed to connect to the API.
    pub connect_timeout: Duration,
}

impl AlgorithmiaSettings {
    /// Reads the settings through `env` (usually `std::env::var(..).ok()`), so tests
    /// never touch the process environment.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let api = non_empty(&env, ALGORITHMIA_API).unwrap_or_else(|| DEFAULT_API.to_owned());
        let parsed = reqwest::Url::parse(&api).map_err(|e| SettingsError::Invalid {
            var: ALGORITHMIA_API,
            value: api.clone(),
            problem: format!(
                "not a URL ({e}); set it to e.g. {DEFAULT_API} or http://127.0.0.1:8080"
            ),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SettingsError::Invalid {
                var: ALGORITHMIA_API,
                value: api,
                problem: "the scheme must be http or https".into(),
            });
        }
        let max_concurrency = positive(&env, ALGORITHMIA_MAX_CONCURRENCY, DEFAULT_MAX_CONCURRENCY)?;
        Ok(Self {
            api: api.trim_end_matches('/').to_owned(),
            key: KeySource::from_env(&env)?,
            max_concurrency,
            function_name: non_empty(&env, AWS_LAMBDA_FUNCTION_NAME),
            connect_timeout: Duration::from_secs(5),
        })
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
        _ => Err(SettingsError::Invalid {
            var,
            value: text,
            problem: "must be a whole number of at least 1".into(),
        }),
    }
}

/// `std::env` as a lookup function for [`AlgorithmiaSettings::from_env`].
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_apply() {
        let s = AlgorithmiaSettings::from_env(env_of(&[(ALGORITHMIA_API_KEY, "simXYZ")]))
            .expect("valid");
        assert_eq!(s.api, DEFAULT_API);
        assert_eq!(s.max_concurrency, 80);
        assert!(matches!(s.key, KeySource::Plain(_)));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = AlgorithmiaSettings::from_env(env_of(&[
            (ALGORITHMIA_API_KEY, "k"),
            (ALGORITHMIA_MAX_CONCURRENCY, "zero"),
        ]))
        .expect_err("invalid");
        assert!(
            err.to_string().contains(ALGORITHMIA_MAX_CONCURRENCY),
            "{err}"
        );

        let err = AlgorithmiaSettings::from_env(env_of(&[
            (ALGORITHMIA_API_KEY, "k"),
            (ALGORITHMIA_API, "ftp://x"),
        ]))
        .expect_err("invalid");
        assert!(err.to_string().contains(ALGORITHMIA_API), "{err}");
    }
}
