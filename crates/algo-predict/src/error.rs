//! Why a prediction or the set-up failed; every message names the field or file at fault.

use std::path::PathBuf;

/// A call that could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictError {
    /// The request is wrong (unknown model, missing feature, bad value...): retrying the
    /// same call cannot help.
    #[error("{0}")]
    Input(String),
    /// A valid request failed in ONNX Runtime, or the predictor is not set up.
    #[error("{0}")]
    Failed(String),
}

impl PredictError {
    pub fn is_input(&self) -> bool {
        matches!(self, PredictError::Input(_))
    }
}

/// The models directory or the ONNX Runtime library cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error(
        "ONNX Runtime library not found at {path}: run `make models` (it installs the \
         `onnxruntime` wheel and copies libonnxruntime.so to models/onnxruntime/), or set \
         ORT_DYLIB_PATH to a libonnxruntime.so of ONNX Runtime 1.22 or newer"
    )]
    RuntimeMissing { path: PathBuf },
    #[error(
        "ONNX Runtime library at {path} cannot be loaded: {reason}; run `make models` to \
         install a matching one, or point ORT_DYLIB_PATH at ONNX Runtime 1.22 or newer"
    )]
    RuntimeUnusable { path: PathBuf, reason: String },
    #[error(
        "models directory {path} has no `predict/` folder: run `make models` to train the \
         default models, or pass --models-dir (ALGO_SERVER_MODELS_DIR) to a directory holding \
         predict/<name>/<version>/{{model.onnx,manifest.json}}"
    )]
    ModelsMissing { path: PathBuf },
    #[error("{path}: {reason}")]
    Model { path: PathBuf, reason: String },
}
