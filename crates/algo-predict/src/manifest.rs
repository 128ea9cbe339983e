//! `manifest.json`: what a model is, what it takes and what it returns.

use std::path::Path;

use algorithmia_v1::{Version, VersionSpec};
use serde::{Deserialize, Serialize};

/// The manifest beside each `model.onnx`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Model name as callers write it, e.g. `breast-cancer`.
    pub name: String,
    /// `major.minor.patch`.
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// `classifier` or `regressor`.
    pub kind: Task,
    /// The model's input columns, in order.
    pub features: Vec<Feature>,
    /// Classifiers: the class names, in the order of the model's probability columns.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The held-out score the model was trained to.
    #[serde(default)]
    pub metric: Option<Metric>,
    /// ONNX graph names; found by shape when absent.
    #[serde(default)]
    pub onnx: OnnxNames,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    #[serde(alias = "classification")]
    Classifier,
    #[serde(alias = "regression")]
    Regressor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: FeatureType,
}

/// What JSON a feature accepts; all become one floating-point input column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureType {
    /// Any finite JSON number.
    #[default]
    #[serde(
        alias = "number",
        alias = "double",
        alias = "float32",
        alias = "float64"
    )]
    Float,
    /// A JSON number without a fractional part.
    #[serde(alias = "int")]
    Integer,
    /// `true` (1) or `false` (0).
    #[serde(alias = "bool")]
    Boolean,
}

impl FeatureType {
    /// The manifest's name of the type, as a model description states it.
    pub fn name(self) -> &'static str {
        match self {
            FeatureType::Float => "float",
            FeatureType::Integer => "integer",
            FeatureType::Boolean => "boolean",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FeatureType::Float => "a number",
            FeatureType::Integer => "an integer",
            FeatureType::Boolean => "true or false",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// `accuracy`, `r2`, ...
    pub name: String,
    pub value: f64,
    #[serde(default)]
    pub held_out_rows: Option<u64>,
}

/// Names in the ONNX graph; each is found from the graph when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnnxNames {
    /// The graph file beside the manifest (`model.onnx`).
    #[serde(default)]
    pub file: Option<String>,
    /// The float `[batch, features]` input.
    #[serde(default)]
    pub input: Option<String>,
    /// Classifiers: the float `[batch, classes]` probabilities, columns in `labels` order.
    #[serde(default)]
    pub probabilities_output: Option<String>,
    /// Regressors: the float `[batch, 1]` (or `[batch]`) values.
    #[serde(default)]
    pub value_output: Option<String>,
}

impl OnnxNames {
    /// The output named for `task`, if any.
    pub fn output(&self, task: Task) -> Option<&str> {
        match task {
            Task::Classifier => self.probabilities_output.as_deref(),
            Task::Regressor => self.value_output.as_deref(),
        }
    }

    pub fn file(&self) -> &str {
        self.file.as_deref().unwrap_or("model.onnx")
    }
}

impl Manifest {
    /// Reads and checks `path`; errors name the file and the field.
    pub fn read(path: &Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|error| error.to_string())?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The parsed `version`.
    pub fn semver(&self) -> Result<Version, String> {
        match self.version.parse::<VersionSpec>() {
            Ok(VersionSpec::Exact(version)) => Ok(version),
            _ => Err(format!(
                "`version` {:?} is not major.minor.patch",
                self.version
            )),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.name.is_empty() || self.name.contains(['/', ' ']) {
            return Err(format!(
                "`name` {:?} must be non-empty, without `/` or spaces",
                self.name
            ));
        }
        self.semver()?;
        if self.features.is_empty() {
            return Err("`features` is empty".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(duplicate) = self.features.iter().find(|f| !seen.insert(&f.name)) {
            return Err(format!("`features` names `{}` twice", duplicate.name));
        }
        if self.onnx.file().contains(['/', '\\']) {
            return Err(format!(
                "`onnx.file` {:?} must be a file name beside the manifest",
                self.onnx.file()
            ));
        }
        match self.kind {
            Task::Classifier if self.labels.len() < 2 => {
                Err("`labels` must name at least two classes for a classifier".into())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_value(value).map_err(|e| e.to_string())?;
        manifest.check().map(|()| manifest)
    }

    #[test]
    fn reads_the_format_make_models_writes() {
        let manifest = parse(json!({
            "name": "breast-cancer", "version": "1.1.0", "kind": "classifier",
            "features": [{"name": "mean_radius", "type": "float"}],
            "labels": ["malignant", "benign"],
            "metric": {"name": "accuracy", "value": 0.97, "held_out_rows": 114},
            "onnx": {"file": "model.onnx", "input": "features", "input_type": "float32",
                     "outputs": ["label", "probabilities"], "label_output": "label",
                     "probabilities_output": "probabilities"},
            "trained_with": {"seed": 42}
        }))
        .expect("manifest");
        assert_eq!(manifest.semver(), Ok(Version::new(1, 1, 0)));
        assert_eq!(
            manifest.onnx.output(Task::Classifier),
            Some("probabilities")
        );
        assert_eq!(manifest.features[0].kind, FeatureType::Float);
    }

    #[test]
    fn refuses_what_cannot_be_served() {
        let base = json!({"name": "m", "version": "1.0.0", "kind": "regressor",
                          "features": [{"name": "a"}]});
        let with = |key: &str, value: serde_json::Value| {
            let mut manifest = base.clone();
            manifest[key] = value;
            parse(manifest).err().unwrap_or_default()
        };
        assert!(parse(base.clone()).is_ok());
        assert!(with("version", json!("1.*")).contains("not major.minor.patch"));
        assert!(with("name", json!("a/b")).contains("without `/`"));
        assert!(with("features", json!([])).contains("empty"));
        assert!(with("features", json!([{"name": "a"}, {"name": "a"}])).contains("twice"));
        assert!(with("kind", json!("classifier")).contains("at least two classes"));
        assert!(with("onnx", json!({"file": "../x.onnx"})).contains("beside the manifest"));
    }
}
