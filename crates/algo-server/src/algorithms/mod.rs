//! The algorithms algo-server hosts. To add one: implement [`Algorithm`] in a module
//! here and register it in [`registry`].

pub mod crash;
pub mod echo;
pub mod face;
pub mod images;
pub mod predict;
pub mod sleep;
pub mod speech;
pub mod thumbnail;

use std::sync::Arc;

use algorithmia_v1::Version;
use serde_json::Value;

use crate::algorithm::{AlgoError, Algorithm, Input};
use crate::config::Config;
use crate::registry::Registry;

/// `blueprints`: the owner of the algorithms written for the blueprints.
pub const OWNER: &str = "blueprints";
pub(crate) const V1_0_0: [Version; 1] = [Version::new(1, 0, 0)];

/// Every algorithm `config` enables.
pub fn registry(config: &Config) -> Registry {
    let mut registry = Registry::new();
    let hosted: [Arc<dyn Algorithm>; 5] = [
        Arc::new(echo::Echo),
        Arc::new(face::FaceDetection),
        Arc::new(thumbnail::SmartThumbnail),
        Arc::new(thumbnail::OpencvSmartThumbnail),
        Arc::new(speech::SpeechToText::from_config(config)),
    ];
    for algorithm in hosted {
        registry.register(algorithm);
    }
    registry.register(Arc::new(predict::Predict::from_config(config)));
    if config.enable_test_algorithms {
        registry.register(Arc::new(sleep::Sleep));
        registry.register(Arc::new(crash::Crash));
    }
    registry
}

/// A JSON object field, or an error naming it.
pub(crate) fn field<'a>(input: &'a Value, name: &str) -> Result<&'a Value, AlgoError> {
    input.get(name).ok_or_else(|| missing_field(name))
}

/// Like [`field`], moving the value out of the input (a `null` is left in its place).
pub(crate) fn take_field(input: &mut Value, name: &str) -> Result<Value, AlgoError> {
    input
        .get_mut(name)
        .map(Value::take)
        .ok_or_else(|| missing_field(name))
}

fn missing_field(name: &str) -> AlgoError {
    AlgoError::input(format!("input field `{name}` is missing"))
}

/// Describes an input's kind for error messages.
pub(crate) fn kind_of(input: &Input) -> &'static str {
    match input {
        Input::Json(Value::Object(_)) => "a JSON object",
        Input::Json(Value::Array(_)) => "a JSON array",
        Input::Json(_) => "a JSON scalar",
        Input::Text(_) => "text",
        Input::Binary(_) => "bytes",
    }
}
