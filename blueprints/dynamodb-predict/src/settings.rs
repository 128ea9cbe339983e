use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{SettingsError, non_empty, positive};
use blueprint_core::predict::{FeatureNoun, PredictEnv, PredictSettings};

/// How this blueprint's messages name what feeds a feature.
pub const ATTRIBUTES: FeatureNoun = FeatureNoun {
    one: "attribute",
    listing: "the feature attributes",
};
pub const PREDICTION_ATTRIBUTE: &str = "PREDICTION_ATTRIBUTE";
pub const MAX_CONCURRENT_WRITES: &str = "MAX_CONCURRENT_WRITES";

#[derive(Debug, Clone)]
pub struct Settings {
    pub algorithmia: AlgorithmiaSettings,
    /// ALGORITHM, MODEL, FEATURES (which attributes feed which of the model's inputs)
    /// and MAX_BATCH_SIZE.
    pub prediction: PredictEnv,
    pub prediction_attribute: String,
    pub max_concurrent_writes: usize,
}

impl Settings {
    /// What the shared prediction code reads.
    pub fn predict(&self) -> PredictSettings<'_> {
        self.prediction.settings(&ATTRIBUTES)
    }

    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let prediction = PredictEnv::from_env(&env, &ATTRIBUTES)?;
        let prediction_attribute =
            non_empty(&env, PREDICTION_ATTRIBUTE).unwrap_or_else(|| "prediction".into());
        if prediction
            .features
            .names()
            .any(|a| a == prediction_attribute)
        {
            return Err(SettingsError::invalid(
                PREDICTION_ATTRIBUTE,
                prediction_attribute,
                "must not be one of FEATURES",
            ));
        }
        Ok(Self {
            algorithmia: AlgorithmiaSettings::from_env(&env)?,
            prediction,
            prediction_attribute,
            max_concurrent_writes: positive(&env, MAX_CONCURRENT_WRITES, 10)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blueprint_core::predict::FeatureMap;
    use blueprint_core::predict::{FEATURES, MODEL};
    use serde_json::json;

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
        assert_eq!(
            s.prediction.features,
            FeatureMap::Positional(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            (s.prediction.max_batch_size, s.prediction_attribute.as_str()),
            (100, "prediction")
        );
    }

    #[test]
    fn features_map_by_position_or_by_name() {
        let named =
            FeatureMap::parse("f0 = mean_radius, f1=mean_texture", &ATTRIBUTES).expect("named");
        assert_eq!(
            named,
            FeatureMap::Named(vec![
                ("f0".into(), "mean_radius".into()),
                ("f1".into(), "mean_texture".into())
            ])
        );
        let values = [("f0".to_owned(), 1.5), ("f1".to_owned(), 2.0)];
        assert_eq!(
            serde_json::to_value(named.instance(&values)).expect("JSON"),
            json!({"mean_radius": 1.5, "mean_texture": 2.0})
        );
        let positional = FeatureMap::parse("f0,f1", &ATTRIBUTES).expect("positional");
        assert_eq!(
            serde_json::to_value(positional.instance(&values)).expect("JSON"),
            json!([1.5, 2.0])
        );
        for (text, problem) in [
            ("a,b=x", "mixes"),
            ("a=x,b=x", "fed twice"),
            ("a,a", "listed twice"),
            ("a=", "name both sides"),
            (" , ", "must list"),
        ] {
            let err = FeatureMap::parse(text, &ATTRIBUTES).expect_err(text);
            let message = err.to_string();
            assert!(
                message.starts_with(FEATURES) && message.contains(problem),
                "{text}: {message}"
            );
        }
    }
}
