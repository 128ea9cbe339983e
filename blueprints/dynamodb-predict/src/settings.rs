use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{self, SettingsError, non_empty, positive};
use blueprint_core::v1::AlgoPath;

pub const DEFAULT_ALGORITHM: &str = blueprint_core::v1::contracts::predict::PATH;
pub const MODEL: &str = "MODEL";
pub const FEATURES: &str = "FEATURES";
pub const PREDICTION_ATTRIBUTE: &str = "PREDICTION_ATTRIBUTE";
pub const MAX_BATCH_SIZE: &str = "MAX_BATCH_SIZE";
pub const MAX_CONCURRENT_WRITES: &str = "MAX_CONCURRENT_WRITES";

#[derive(Debug, Clone)]
pub struct Settings {
    pub algorithmia: AlgorithmiaSettings,
    pub algorithm: AlgoPath,
    /// `name[/version]` of the model, as the Predict algorithm takes it.
    pub model: String,
    /// Attribute names, in the model's feature order.
    pub features: Vec<String>,
    pub prediction_attribute: String,
    pub max_batch_size: usize,
    pub max_concurrent_writes: usize,
}

impl Settings {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let algorithm = env::algorithm(&env, DEFAULT_ALGORITHM)?;
        let model = non_empty(&env, MODEL).ok_or_else(|| {
            SettingsError::invalid(
                MODEL,
                String::new(),
                "must name the model, e.g. breast-cancer or breast-cancer/1.0.0",
            )
        })?;
        let features_text = non_empty(&env, FEATURES).unwrap_or_default();
        let features: Vec<String> = features_text
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if features.is_empty() {
            return Err(SettingsError::invalid(
                FEATURES,
                features_text,
                "must list the feature attributes in the model's order, comma-separated",
            ));
        }
        let prediction_attribute =
            non_empty(&env, PREDICTION_ATTRIBUTE).unwrap_or_else(|| "prediction".into());
        if features.contains(&prediction_attribute) {
            return Err(SettingsError::invalid(
                PREDICTION_ATTRIBUTE,
                prediction_attribute,
                "must not be one of FEATURES",
            ));
        }
        Ok(Self {
            algorithmia: AlgorithmiaSettings::from_env(&env)?,
            algorithm,
            model,
            features,
            prediction_attribute,
            max_batch_size: positive(&env, MAX_BATCH_SIZE, 100)?,
            max_concurrent_writes: positive(&env, MAX_CONCURRENT_WRITES, 10)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_and_features_are_required_and_named() {
        let base = |k: &str| (k == "ALGORITHMIA_API_KEY").then(|| "simK".to_owned());
        let err = Settings::from_env(base).expect_err("no model");
        assert!(err.to_string().contains(MODEL), "{err}");
        let with_model = |k: &str| match k {
            MODEL => Some("m".to_owned()),
            other => base(other),
        };
        let err = Settings::from_env(with_model).expect_err("no features");
        assert!(err.to_string().contains(FEATURES), "{err}");
        let ok = |k: &str| match k {
            FEATURES => Some(" a, b ,c".to_owned()),
            other => with_model(other),
        };
        let s = Settings::from_env(ok).expect("valid");
        assert_eq!(s.features, ["a", "b", "c"]);
        assert_eq!(
            (s.max_batch_size, s.prediction_attribute.as_str()),
            (100, "prediction")
        );
    }
}
