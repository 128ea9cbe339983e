use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{self, SettingsError, non_empty, positive};
use blueprint_core::v1::AlgoPath;
use blueprint_core::v1::contracts::predict::Instance;
use serde_json::{Value, json};

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
    /// Which attributes feed which of the model's inputs.
    pub features: FeatureMap,
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
        let features = FeatureMap::parse(&non_empty(&env, FEATURES).unwrap_or_default())?;
        let prediction_attribute =
            non_empty(&env, PREDICTION_ATTRIBUTE).unwrap_or_else(|| "prediction".into());
        if features.attributes().any(|a| a == prediction_attribute) {
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

/// How `FEATURES` maps the table's attributes to the model's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureMap {
    /// `a,b,c`: attribute names in the model's feature order (the first attribute feeds
    /// the model's first feature, and so on), sent as positional instances
    /// `[a, b, c]`, so the attribute names need not match the model's feature names.
    Positional(Vec<String>),
    /// `a=mean_radius,b=mean_texture`: each attribute with the model feature it feeds,
    /// in any order, sent as named instances `{"mean_radius": a, ...}`.
    Named(Vec<(String, String)>),
}

impl FeatureMap {
    /// Reads `FEATURES`: all `attribute` or all `attribute=feature`, comma-separated.
    pub fn parse(text: &str) -> Result<Self, SettingsError> {
        let bad = |problem: String| SettingsError::invalid(FEATURES, text, problem);
        let entries: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(bad(
                "must list the feature attributes, comma-separated: in the model's feature order (a,b,c), or each with the model feature it feeds (a=mean_radius,b=mean_texture)".into(),
            ));
        }
        let named = entries.iter().filter(|e| e.contains('=')).count();
        let map = if named == 0 {
            FeatureMap::Positional(entries.iter().map(|e| (*e).to_owned()).collect())
        } else if named == entries.len() {
            let mut pairs = Vec::with_capacity(entries.len());
            for entry in &entries {
                let (attribute, feature) = entry.split_once('=').unwrap_or((entry, ""));
                let (attribute, feature) = (attribute.trim(), feature.trim());
                if attribute.is_empty() || feature.is_empty() {
                    return Err(bad(format!(
                        "{entry:?} is not attribute=feature: name both sides"
                    )));
                }
                pairs.push((attribute.to_owned(), feature.to_owned()));
            }
            if let Some(feature) = duplicate(pairs.iter().map(|(_, f)| f.as_str())) {
                return Err(bad(format!("feature {feature:?} is fed twice")));
            }
            FeatureMap::Named(pairs)
        } else {
            return Err(bad(
                "mixes attribute and attribute=feature entries: use one form for all".into(),
            ));
        };
        if let Some(attribute) = duplicate(map.attributes()) {
            return Err(bad(format!("attribute {attribute:?} is listed twice")));
        }
        Ok(map)
    }

    /// The table's attribute names, in `FEATURES` order.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        let (positional, named) = match self {
            FeatureMap::Positional(attributes) => (Some(attributes), None),
            FeatureMap::Named(pairs) => (None, Some(pairs)),
        };
        positional
            .into_iter()
            .flatten()
            .map(String::as_str)
            .chain(named.into_iter().flatten().map(|(a, _)| a.as_str()))
    }

    pub fn len(&self) -> usize {
        match self {
            FeatureMap::Positional(attributes) => attributes.len(),
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
            FeatureMap::Positional(_) => format!("{} attributes by position", self.len()),
            FeatureMap::Named(_) => format!("{} attribute=feature pairs", self.len()),
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
            s.features,
            FeatureMap::Positional(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            (s.max_batch_size, s.prediction_attribute.as_str()),
            (100, "prediction")
        );
    }

    #[test]
    fn features_map_by_position_or_by_name() {
        let named = FeatureMap::parse("f0 = mean_radius, f1=mean_texture").expect("named");
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
            (" , ", "must list"),
        ] {
            let err = FeatureMap::parse(text).expect_err(text);
            let message = err.to_string();
            assert!(
                message.starts_with(FEATURES) && message.contains(problem),
                "{text}: {message}"
            );
        }
    }
}
