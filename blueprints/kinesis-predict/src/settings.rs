use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{SettingsError, non_empty, positive};
use blueprint_core::predict::{FeatureNoun, PredictEnv, PredictSettings};

pub use blueprint_core::predict::{FEATURES, MAX_BATCH_SIZE, MODEL};

/// How this blueprint's messages name what feeds a feature.
pub const FIELDS: FeatureNoun = FeatureNoun {
    one: "field",
    listing: "the JSON fields that hold the features",
};
pub const OUTPUT_STREAM: &str = "OUTPUT_STREAM";
pub const MAX_PUT_ATTEMPTS: &str = "MAX_PUT_ATTEMPTS";

/// The most records one `PutRecords` call takes.
pub const PUT_RECORDS_LIMIT: usize = 500;

#[derive(Debug, Clone)]
pub struct Settings {
    pub algorithmia: AlgorithmiaSettings,
    /// ALGORITHM, MODEL, FEATURES (which fields of a record's JSON feed which of the
    /// model's inputs) and MAX_BATCH_SIZE.
    pub prediction: PredictEnv,
    /// The stream the enriched records go to: a name or an ARN.
    pub output_stream: String,
    /// `PutRecords` calls per output record (the first and its retries).
    pub max_put_attempts: u32,
}

impl Settings {
    /// What the shared prediction code reads.
    pub fn predict(&self) -> PredictSettings<'_> {
        self.prediction.settings(&FIELDS)
    }

    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let prediction = PredictEnv::from_env(&env, &FIELDS)?;
        let output_stream = non_empty(&env, OUTPUT_STREAM).ok_or_else(|| {
            SettingsError::invalid(
                OUTPUT_STREAM,
                String::new(),
                "must name the Kinesis stream the predictions go to (its name or ARN)",
            )
        })?;
        if output_stream.starts_with("arn:") && !output_stream.contains(":stream/") {
            return Err(SettingsError::invalid(
                OUTPUT_STREAM,
                output_stream,
                "is an ARN but not a Kinesis stream's (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)",
            ));
        }
        Ok(Self {
            algorithmia: AlgorithmiaSettings::from_env(&env)?,
            prediction,
            output_stream,
            max_put_attempts: positive(&env, MAX_PUT_ATTEMPTS, 4)?,
        })
    }

    /// The output stream's name (the last part of an ARN).
    pub fn output_stream_name(&self) -> &str {
        stream_name(&self.output_stream)
    }
}

/// `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME` (or a bare name) -> `NAME`.
pub fn stream_name(stream: &str) -> &str {
    stream
        .rsplit_once(":stream/")
        .map_or(stream, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use blueprint_core::predict::DEFAULT_ALGORITHM;
    use blueprint_core::predict::FeatureMap;
    use serde_json::json;

    fn base(k: &str) -> Option<String> {
        match k {
            "ALGORITHMIA_API_KEY" => Some("simK".to_owned()),
            MODEL => Some("m".to_owned()),
            FEATURES => Some(" a, b ,c".to_owned()),
            OUTPUT_STREAM => Some("predictions".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn defaults_and_bad_values_name_the_variable() {
        let settings = Settings::from_env(base).expect("valid");
        assert_eq!(settings.prediction.algorithm.to_string(), DEFAULT_ALGORITHM);
        assert_eq!(
            settings.prediction.features,
            FeatureMap::Positional(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            (
                settings.prediction.max_batch_size,
                settings.max_put_attempts
            ),
            (100, 4)
        );
        for (var, value) in [
            (MODEL, ""),
            (FEATURES, " , "),
            (OUTPUT_STREAM, ""),
            (OUTPUT_STREAM, "arn:aws:sqs:us-east-1:123456789012:queue"),
            (MAX_BATCH_SIZE, "0"),
            (MAX_PUT_ATTEMPTS, "many"),
        ] {
            let env = |k: &str| {
                if k == var {
                    Some(value.to_owned())
                } else {
                    base(k)
                }
            };
            let err = Settings::from_env(env).expect_err(var);
            assert!(err.to_string().starts_with(var), "{var}={value:?}: {err}");
        }
    }

    #[test]
    fn the_output_stream_is_a_name_or_an_arn() {
        assert_eq!(stream_name("predictions"), "predictions");
        assert_eq!(
            stream_name("arn:aws:kinesis:us-east-1:123456789012:stream/predictions"),
            "predictions"
        );
    }

    #[test]
    fn features_map_by_position_or_by_name() {
        let named = FeatureMap::parse("f0 = mean_radius, f1=mean_texture", &FIELDS).expect("named");
        let values = [("f0".to_owned(), 1.5), ("f1".to_owned(), 2.0)];
        assert_eq!(
            serde_json::to_value(named.instance(&values)).expect("JSON"),
            json!({"mean_radius": 1.5, "mean_texture": 2.0})
        );
        let positional = FeatureMap::parse("f0,f1", &FIELDS).expect("positional");
        assert_eq!(
            serde_json::to_value(positional.instance(&values)).expect("JSON"),
            json!([1.5, 2.0])
        );
        for (text, problem) in [
            ("a,b=x", "mixes"),
            ("a=x,b=x", "fed twice"),
            ("a,a", "listed twice"),
            ("a=", "name both sides"),
        ] {
            let message = FeatureMap::parse(text, &FIELDS)
                .expect_err(text)
                .to_string();
            assert!(
                message.starts_with(FEATURES) && message.contains(problem),
                "{text}: {message}"
            );
        }
    }
}
