//! `blueprints/Predict/1.0.0`: tabular predictions from the ONNX models of
//! `--models-dir`. The work lives in the `algo-predict` crate; this adapter maps its
//! input, output and errors onto the v1 protocol.

use algo_predict::{Options, PredictError, Predictor};
use algorithmia_v1::Version;
use serde_json::Value;

use crate::algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};
use crate::config::Config;

pub struct Predict {
    /// The loaded models, or why they could not be loaded (told to every caller).
    predictor: Result<Predictor, String>,
}

impl Predict {
    /// Loads ONNX Runtime and the models `config` names. A missing library or models
    /// directory does not stop the server: the algorithm is still listed and each call
    /// answers what to install.
    pub fn from_config(config: &Config) -> Self {
        let options = Options {
            max_batch: config.predict_max_batch,
        };
        let predictor = Predictor::open(&config.models_dir, options)
            .inspect(|predictor| {
                let catalog = predictor.catalog();
                tracing::info!(models = %catalog.served(), dir = %config.models_dir.display(), "Predict ready");
                for skipped in catalog.skipped() {
                    tracing::warn!(error = %skipped, "Predict skips a model that does not load");
                }
            })
            .map_err(|error| {
                tracing::warn!(%error, "Predict is listed but cannot run until the models exist");
                format!("blueprints/Predict cannot run: {error}")
            });
        Self { predictor }
    }
}

impl Algorithm for Predict {
    fn owner(&self) -> &str {
        super::OWNER
    }

    fn name(&self) -> &str {
        "Predict"
    }

    fn versions(&self) -> &[Version] {
        &super::V1_0_0
    }

    fn description(&self) -> Description {
        Description {
            input: "{\"model\": \"name[/version]\", \"instances\": [{feature: number, ...} or [numbers in feature order], ...]}, or {\"model\": ..., \"describe\": true} for the model's features",
            output: "{\"model\": \"name/version\", \"predictions\": [{\"label\", \"score\"} or {\"value\"}, ...]} in input order; with describe, {\"model\", \"features\": [{\"name\", \"type\"}, ...]}",
        }
    }

    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError> {
        let predictor = self
            .predictor
            .as_ref()
            .map_err(|reason| AlgoError::failed(reason.clone()))?;
        let request = match input {
            Input::Json(value) => value,
            // Some clients send JSON as text/plain.
            Input::Text(text) => serde_json::from_str::<Value>(&text).map_err(|error| {
                AlgoError::input(format!(
                    "input must be JSON (send Content-Type: application/json): {error}"
                ))
            })?,
            Input::Binary(_) => {
                return Err(AlgoError::input(
                    "input must be JSON {\"model\": ..., \"instances\": [...]}, not bytes \
                     (send Content-Type: application/json)",
                ));
            }
        };
        ctx.check_cancelled()?;
        predictor
            .answer(&request)
            .map(Output::Json)
            .map_err(|error| match error {
                PredictError::Input(message) => AlgoError::input(message),
                PredictError::Failed(message) => AlgoError::failed(message),
            })
    }
}
