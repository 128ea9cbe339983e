//! Tabular predictions from ONNX models for `algo-server`'s `blueprints/Predict`.
//!
//! A models directory holds `predict/<name>/<version>/{model.onnx,manifest.json}` and,
//! from `make models`, `onnxruntime/libonnxruntime.so`. [`Predictor::open`] loads them;
//! [`Predictor::predict`] answers `{"model": "name[/version]", "instances": [...]}` with
//! `{"model": "name/version", "predictions": [...]}`, one model run per call.

pub mod catalog;
pub mod error;
pub mod manifest;
pub mod prediction;
pub mod predictor;
pub mod runtime;
pub mod session;
pub mod validate;

pub use catalog::{Catalog, Model};
pub use error::{PredictError, SetupError};
pub use manifest::{Feature, FeatureType, Manifest, Task};
pub use prediction::{Prediction, Predictions};
pub use predictor::{Options, Predictor};
