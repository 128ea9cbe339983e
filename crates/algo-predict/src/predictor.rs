//! The entry point: a models directory in, predictions out.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::{PredictError, SetupError};
use crate::prediction::{Predictions, from_output};
use crate::runtime::{Runtime, library_path};
use crate::validate::{Request, batch, describe_request};
use algorithmia_v1::contracts::predict::{FeatureDescription, ModelDescription};

/// Limits applied to every call.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Most instances in one call.
    pub max_batch: usize,
}

impl Options {
    pub const DEFAULT_MAX_BATCH: usize = 10_000;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_batch: Options::DEFAULT_MAX_BATCH,
        }
    }
}

/// Every model of a models directory, ready to predict.
pub struct Predictor {
    catalog: Catalog,
    options: Options,
    models_dir: PathBuf,
    runtime: Runtime,
}

impl Predictor {
    /// Loads ONNX Runtime (`ORT_DYLIB_PATH`, else `<models_dir>/onnxruntime/libonnxruntime.so`)
    /// and every model under `<models_dir>/predict/`.
    pub fn open(models_dir: &Path, options: Options) -> Result<Predictor, SetupError> {
        let runtime = Runtime::load(&library_path(models_dir))?;
        let catalog = Catalog::load(models_dir, &runtime)?;
        Ok(Predictor {
            catalog,
            options,
            models_dir: models_dir.to_path_buf(),
            runtime,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Answers either request: `{"model", "describe": true}` with the model's
    /// [`ModelDescription`], `{"model", "instances"}` with its predictions.
    pub fn answer(&self, input: &Value) -> Result<Value, PredictError> {
        let reply = match describe_request(input) {
            Some(model) => serde_json::to_value(self.describe(model?)?),
            None => serde_json::to_value(self.predict(input)?),
        };
        reply
            .map_err(|error| PredictError::Failed(format!("the reply does not serialise: {error}")))
    }

    /// The features of the model `reference` (`name[/version]`) means, in order.
    pub fn describe(&self, reference: &str) -> Result<ModelDescription, PredictError> {
        let model = self.catalog.resolve(reference)?;
        Ok(ModelDescription {
            model: model.id(),
            features: model
                .manifest
                .features
                .iter()
                .map(|feature| FeatureDescription {
                    name: feature.name.clone(),
                    kind: feature.kind.name().to_owned(),
                })
                .collect(),
        })
    }

    /// Validates `input` (`{"model": "name[/version]", "instances": [...]}`) and predicts
    /// every instance in one model run.
    pub fn predict(&self, input: &Value) -> Result<Predictions, PredictError> {
        let request = Request::parse(input)?;
        let model = self.catalog.resolve(request.model)?;
        let session = &model.session;
        let batch = batch(
            request.instances,
            &model.manifest,
            session.input_precision(),
            self.options.max_batch,
        )?;
        let predictions = if batch.rows == 0 {
            Vec::new()
        } else {
            let output = session
                .run(batch.rows, &batch.values)
                .map_err(|error| PredictError::Failed(format!("model {}: {error}", model.id())))?;
            from_output(&model.manifest, session.columns, &output)
        };
        Ok(Predictions {
            model: model.id(),
            predictions,
        })
    }
}
