use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{self, SettingsError, non_empty, positive};
use blueprint_core::v1::AlgoPath;
use blueprint_core::v1::contracts::predict::Instance;
use serde_json::{Value, json};

pub const DEFAULT_ALGORITHM: &str = blueprint_core::v1::contracts::predict::PATH;
pub const MODEL: &str = "MODEL";
pub const FEATURES: &str = "FEATURES";
pub const OUTPUT_STREAM: &str = "OUTPUT_STREAM";
pub const MAX_BATCH_SIZE: &str = "MAX_BATCH_SIZE";
pub const MAX_PUT_ATTEMPTS: &str = "MAX_PUT_ATTEMPTS";

/// The most records one `PutRecords` call takes.
pub const PUT_RECORDS_LIMIT: usize = 500;

#[derive(Debug, Clone)]
pub struct Settings {
    pub algorithmia: AlgorithmiaSettings,
    pub algorithm: AlgoPath,
    /// `name[/version]` of the model, as the Predict algorithm takes it.
    pub model: String,
    /// Which fields of a record's JSON feed which of the model's inputs.
    pub features: FeatureMap,
    /// The stream the enriched records go to: a name or an ARN.
    pub output_stream: String,
    pub max_batch_size: usize,
    /// `PutRecords` calls per output record (the first and its retries).
    pub max_put_attempts: u32,
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
        let features = FeatureMap::parse(&non_empty(&env, FEATURES).unwrap_or_default())?;
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
            algorithm,
            model,
            features,
            output_stream,
            max_batch_size: positive(&env, MAX_BATCH_SIZE, 100)?,
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

/// How `FEATURES` maps the fields of a record's JSON to the model's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureMap {
    /// `a,b,c`: field names in the model's feature order, sent as positional
    /// instances `[a, b, c]`, so the field names need not match the model's.
    Positional(Vec<String>),
    /// `a=mean_radius,b=mean_texture`: each field with the model feature it feeds, in
    /// any order, sent as named instances `{"mean_radius": a, ...}`.
    Named(Vec<(String, String)>),
}

impl FeatureMap {
    /// Reads `FEATURES`: all `field` or all `field=feature`, comma-separated.
    pub fn parse(text: &str) -> Result<Self, SettingsError> {
        let bad = |problem: String| SettingsError::invalid(FEATURES, text, problem);
        let entries: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(bad(
                "must list the JSON fields that hold the features, comma-separated: in the model's feature order (a,b,c), or each with the model feature it feeds (a=mean_radius,b=mean_texture)".into(),
            ));
        }
        let named = entries.iter().filter(|e| e.contains('=')).count();
        let map = if named == 0 {
            FeatureMap::Positional(entries.iter().map(|e| (*e).to_owned()).collect())
        } else if named == entries.len() {
            let mut pairs = Vec::with_capacity(entries.len());
            for entry in &entries {
                let (field, feature) = entry.split_once('=').unwrap_or((entry, ""));
                let (field, feature) = (field.trim(), feature.trim());
                if field.is_empty() || feature.is_empty() {
                    return Err(bad(format!(
                        "{entry:?} is not field=feature: name both sides"
                    )));
                }
                pairs.push((field.to_owned(), feature.to_owned()));
            }
            if let Some(feature) = duplicate(pairs.iter().map(|(_, f)| f.as_str())) {
                return Err(bad(format!("feature {feature:?} is fed twice")));
            }
            FeatureMap::Named(pairs)
        } else {
            return Err(bad(
                "mixes field and field=feature entries: use one form for all".into(),
            ));
        };
        if let Some(field) = duplicate(map.fields()) {
            return Err(bad(format!("field {field:?} is listed twice")));
        }
        Ok(map)
    }

    /// The JSON field names, in `FEATURES` order.
    pub fn fields(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            FeatureMap::Positional(fields) => Box::new(fields.iter().map(String::as_str)),
            FeatureMap::Named(pairs) => Box::new(pairs.iter().map(|(f, _)| f.as_str())),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            FeatureMap::Positional(fields) => fields.len(),
            FeatureMap::Named(pairs) => pairs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One instance of the request from a record's values, in `FEATURES` order.
    pub fn instance(&self, values: &[(String, f64)]) -> Instance {
        match self {
            FeatureMap::Positional(_) => {
                Instance::Ordered(values.iter().map(|(_, v)| json!(v)).collect())
            }
            FeatureMap::Named(pairs) => Instance::Named(
                pairs
                    .iter()
                    .zip(values)
                    .map(|((_, feature), (_, v))| (feature.clone(), json!(v)))
                    .collect::<serde_json::Map<String, Value>>(),
            ),
        }
    }

    /// How the form reads in messages.
    pub fn describe(&self) -> String {
        match self {
            FeatureMap::Positional(_) => format!("{} fields by position", self.len()),
            FeatureMap::Named(_) => format!("{} field=feature pairs", self.len()),
        }
    }
}

fn duplicate<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    names.find(|name| !seen.insert(*name))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(settings.algorithm.to_string(), DEFAULT_ALGORITHM);
        assert_eq!(
            settings.features,
            FeatureMap::Positional(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            (settings.max_batch_size, settings.max_put_attempts),
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
        let named = FeatureMap::parse("f0 = mean_radius, f1=mean_texture").expect("named");
        let values = [("f0".to_owned(), 1.5), ("f1".to_owned(), 2.0)];
        assert_eq!(
            serde_json::to_value(named.instance(&values)).expect("JSON"),
            json!({"mean_radius": 1.5, "mean_texture": 2.0})
        );
        let positional = FeatureMap::parse("f0,f1").expect("positional");
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
            let message = FeatureMap::parse(text).expect_err(text).to_string();
            assert!(
                message.starts_with(FEATURES) && message.contains(problem),
                "{text}: {message}"
            );
        }
    }
}
