use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{self, SettingsError, positive};
use blueprint_core::v1::AlgoPath;

pub const DEFAULT_ALGORITHM: &str = "blueprints/Echo/1.0.0";
pub const MAX_CONCURRENT_MESSAGES: &str = "MAX_CONCURRENT_MESSAGES";

/// The blueprint's settings, read once per cold start: the shared ones
/// (`ALGORITHMIA_API`, the key, `ALGORITHM`) plus this blueprint's own.
#[derive(Debug, Clone)]
pub struct Settings {
    pub algorithmia: AlgorithmiaSettings,
    pub algorithm: AlgoPath,
    pub max_concurrent_messages: usize,
}

impl Settings {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let algorithm = env::algorithm(&env, DEFAULT_ALGORITHM)?;
        let max_concurrent_messages = positive(&env, MAX_CONCURRENT_MESSAGES, 4)?;
        Ok(Self {
            algorithmia: AlgorithmiaSettings::from_env(&env)?,
            algorithm,
            max_concurrent_messages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values_name_the_variable() {
        let base = |k: &str| (k == "ALGORITHMIA_API_KEY").then(|| "simK".to_owned());
        let settings = Settings::from_env(base).expect("valid");
        assert_eq!(settings.algorithm.to_string(), DEFAULT_ALGORITHM);
        assert_eq!(settings.max_concurrent_messages, 4);
        let bad = |k: &str| match k {
            MAX_CONCURRENT_MESSAGES => Some("none".to_owned()),
            other => base(other),
        };
        let err = Settings::from_env(bad).expect_err("invalid");
        assert!(err.to_string().contains(MAX_CONCURRENT_MESSAGES), "{err}");
    }
}
