//! [`AlgorithmiaSettings`]: what every blueprint needs to reach the algorithm API,
//! read from the environment once per cold start.

use std::time::Duration;

use crate::auth::Auth;
use crate::env::{
    ALGORITHMIA_API, ALGORITHMIA_MAX_CONCURRENCY, ALGORITHMIA_MAX_REPLY_BYTES,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE, SettingsError, non_empty, positive,
};

pub const DEFAULT_API: &str = "https://api.algorithmia.com";
/// Algorithmia's default account concurrency.
pub const DEFAULT_MAX_CONCURRENCY: usize = 80;
/// The memory assumed when Lambda does not say (a local run).
const DEFAULT_MEMORY_MB: usize = 1024;
/// A reply is held as bytes, then as parsed JSON and decoded base64 (about three
/// times its size at once): an eighth of the memory leaves room for the rest.
const REPLY_SHARE_OF_MEMORY: usize = 8;

/// The default of `ALGORITHMIA_MAX_REPLY_BYTES` for a function of `memory_mb`: an
/// eighth of it (32 MiB at 256 MB), at least 1 MiB.
pub fn default_max_reply_bytes(memory_mb: Option<usize>) -> usize {
    let memory = memory_mb.unwrap_or(DEFAULT_MEMORY_MB).max(1) << 20;
    (memory / REPLY_SHARE_OF_MEMORY).max(1 << 20)
}

#[derive(Debug, Clone)]
pub struct AlgorithmiaSettings {
    pub api: String,
    /// `ALGORITHMIA_AUTH` and what its mode needs (the key's source, or the region).
    pub auth: Auth,
    pub max_concurrency: usize,
    /// Most bytes read of one reply (or async result); see [`default_max_reply_bytes`].
    pub max_reply_bytes: usize,
    /// Time allowed to connect to the API.
    pub connect_timeout: Duration,
}

impl AlgorithmiaSettings {
    /// Reads the settings through `env` (usually [`crate::env::process_env`]), so
    /// tests never touch the process environment.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let api = non_empty(&env, ALGORITHMIA_API).unwrap_or_else(|| DEFAULT_API.to_owned());
        let parsed = reqwest::Url::parse(&api).map_err(|e| {
            SettingsError::invalid(
                ALGORITHMIA_API,
                api.clone(),
                format!("not a URL ({e}); set it to e.g. {DEFAULT_API} or http://127.0.0.1:8080"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SettingsError::invalid(
                ALGORITHMIA_API,
                api,
                "the scheme must be http or https",
            ));
        }
        Ok(Self {
            api: api.trim_end_matches('/').to_owned(),
            auth: Auth::from_env(&env)?,
            max_concurrency: positive(&env, ALGORITHMIA_MAX_CONCURRENCY, DEFAULT_MAX_CONCURRENCY)?,
            max_reply_bytes: positive(
                &env,
                ALGORITHMIA_MAX_REPLY_BYTES,
                default_max_reply_bytes(
                    non_empty(&env, AWS_LAMBDA_FUNCTION_MEMORY_SIZE).and_then(|m| m.parse().ok()),
                ),
            )?,
            connect_timeout: Duration::from_secs(5),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::KeySource;
    use crate::env::{
        ALGORITHMIA_API_KEY, ALGORITHMIA_API_KEY_KMS, ALGORITHMIA_AUTH, AWS_LAMBDA_FUNCTION_NAME,
        AWS_REGION,
    };
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
        assert_eq!(s.max_reply_bytes, 128 << 20, "an eighth of 1024 MB");
        assert!(matches!(s.auth, Auth::ApiKey(KeySource::Plain(_))));
    }

    #[test]
    fn the_reply_cap_follows_the_functions_memory() {
        let s = AlgorithmiaSettings::from_env(env_of(&[
            (ALGORITHMIA_API_KEY, "k"),
            (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "256"),
        ]))
        .expect("valid");
        assert_eq!(s.max_reply_bytes, 32 << 20);
        assert_eq!(default_max_reply_bytes(Some(1)), 1 << 20, "at least 1 MiB");
        let s = AlgorithmiaSettings::from_env(env_of(&[
            (ALGORITHMIA_API_KEY, "k"),
            (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "256"),
            (ALGORITHMIA_MAX_REPLY_BYTES, "1000"),
        ]))
        .expect("valid");
        assert_eq!(s.max_reply_bytes, 1000);
        let err = AlgorithmiaSettings::from_env(env_of(&[
            (ALGORITHMIA_API_KEY, "k"),
            (ALGORITHMIA_MAX_REPLY_BYTES, "lots"),
        ]))
        .expect_err("invalid");
        assert!(
            err.to_string().starts_with(ALGORITHMIA_MAX_REPLY_BYTES),
            "{err}"
        );
    }

    #[test]
    fn the_kms_source_keeps_its_function_name() {
        let s = AlgorithmiaSettings::from_env(env_of(&[
            (ALGORITHMIA_API_KEY_KMS, "AAEC"),
            (AWS_LAMBDA_FUNCTION_NAME, "thumbs"),
        ]))
        .expect("valid");
        let Auth::ApiKey(KeySource::Kms { function_name, .. }) = s.auth else {
            panic!("KMS mode")
        };
        assert_eq!(function_name.as_deref(), Some("thumbs"));
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

    #[test]
    fn iam_mode_reads_the_region_and_keeps_the_rest() {
        let s = AlgorithmiaSettings::from_env(env_of(&[
            (ALGORITHMIA_AUTH, "iam"),
            (AWS_REGION, "eu-central-1"),
            (
                ALGORITHMIA_API,
                "https://abc.lambda-url.eu-central-1.on.aws/",
            ),
        ]))
        .expect("valid");
        assert!(matches!(&s.auth, Auth::Iam { region } if region == "eu-central-1"));
        assert_eq!(s.api, "https://abc.lambda-url.eu-central-1.on.aws");

        let err = AlgorithmiaSettings::from_env(env_of(&[
            (ALGORITHMIA_AUTH, "iam"),
            (AWS_REGION, "eu-central-1"),
            (ALGORITHMIA_API_KEY_KMS, "AAEC"),
        ]))
        .expect_err("a key beside IAM");
        assert!(err.to_string().contains(ALGORITHMIA_API_KEY_KMS), "{err}");
    }
}
