//! `blueprints/Predict`: tabular predictions from a served ONNX model, many instances
//! per call.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The algorithm's default path.
pub const PATH: &str = "blueprints/Predict/1.0.0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// `name[/version]` of a served model.
    pub model: String,
    pub instances: Vec<Instance>,
}

/// One row of features: by the model's feature names, or as values in its feature
/// order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Instance {
    Named(Map<String, Value>),
    Ordered(Vec<Value>),
}

/// Asks what a model takes instead of predicting: `{"model": "...", "describe": true}`,
/// answered with a [`ModelDescription`]. An endpoint without this answers `InputError`
/// (an unknown input field), so a caller cannot tell it from an unknown model: send
/// `{"model": "...", "instances": []}` to learn which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DescribeRequest {
    pub model: String,
    pub describe: bool,
}

impl DescribeRequest {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            describe: true,
        }
    }
}

/// What a model takes: its features, in the order positional instances give them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDescription {
    /// The model the reference resolved to, `name/version`.
    pub model: String,
    pub features: Vec<FeatureDescription>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDescription {
    pub name: String,
    /// `float`, `integer` or `boolean`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The model the call resolved to, `name/version`.
    pub model: String,
    /// One per instance, in the request's order.
    pub predictions: Vec<Prediction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prediction {
    /// A classifier's most probable class and its probability.
    Class { label: String, score: f64 },
    /// A regressor's value.
    Value { value: f64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_read_both_kinds_of_prediction() {
        let reply: Reply = serde_json::from_value(json!({
            "model": "m/1.0.0",
            "predictions": [{"label": "benign", "score": 0.9}, {"value": 151.5}]
        }))
        .expect("parses");
        assert_eq!(
            reply.predictions,
            [
                Prediction::Class {
                    label: "benign".into(),
                    score: 0.9
                },
                Prediction::Value { value: 151.5 }
            ]
        );
    }

    #[test]
    fn describe_requests_and_replies_have_one_shape() {
        assert_eq!(
            serde_json::to_value(DescribeRequest::new("m/1.*")).expect("serialises"),
            json!({"model": "m/1.*", "describe": true})
        );
        let reply: ModelDescription = serde_json::from_value(json!({
            "model": "m/1.0.0", "features": [{"name": "x", "type": "float"}]
        }))
        .expect("parses");
        assert_eq!(reply.features[0].name, "x");
        assert_eq!(reply.features[0].kind, "float");
    }

    #[test]
    fn instances_keep_their_shape() {
        let request: Request = serde_json::from_value(json!({
            "model": "m", "instances": [{"a": 1}, [1, 2]]
        }))
        .expect("parses");
        assert!(matches!(request.instances[0], Instance::Named(_)));
        assert!(matches!(request.instances[1], Instance::Ordered(_)));
        assert_eq!(
            serde_json::to_value(&request).expect("serialises"),
            json!({"model": "m", "instances": [{"a": 1}, [1, 2]]})
        );
    }
}
