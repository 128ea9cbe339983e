//! The algorithms algo-server hosts. To add one: implement [`Algorithm`] in a module
//! here and register it in [`registry`].

pub mod echo;
pub mod face;
pub mod predict;
pub mod sleep;
pub mod speech;
pub mod thumbnail;

use std::sync::Arc;

use algorithmia_v1::Version;
use bytes::Bytes;
use serde_json::Value;

use crate::algorithm::{AlgoError, Algorithm, Context, Input};
use crate::config::Config;
use crate::imaging;
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
    }
    registry
}

/// A JSON object field, or an error naming it.
pub(crate) fn field<'a>(input: &'a Value, name: &str) -> Result<&'a Value, AlgoError> {
    input
        .get(name)
        .ok_or_else(|| AlgoError::input(format!("input field `{name}` is missing")))
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

/// The image of an input that is image bytes, an image reference (URL or base64) as
/// text or a JSON string, or a JSON object with an `image` reference.
pub(crate) fn image_input(input: Input, ctx: &Context) -> Result<Bytes, AlgoError> {
    match input {
        Input::Binary(bytes) => Ok(bytes),
        Input::Text(reference) => imaging::read_reference(&reference, "input", ctx),
        Input::Json(Value::String(reference)) => imaging::read_reference(&reference, "input", ctx),
        Input::Json(object @ Value::Object(_)) => image_field(&object, ctx),
        other => Err(AlgoError::input(format!(
            "input must be image bytes, an image URL, or {{\"image\": URL or base64}}, not {}",
            kind_of(&other)
        ))),
    }
}

/// The `image` field of a JSON object input: an http(s) URL, a data: URI or base64.
pub(crate) fn image_field(object: &Value, ctx: &Context) -> Result<Bytes, AlgoError> {
    match field(object, "image")? {
        Value::String(reference) => imaging::read_reference(reference, "input field `image`", ctx),
        _ => Err(AlgoError::input(
            "input field `image` must be a string: an http(s) URL or base64 image data",
        )),
    }
}
