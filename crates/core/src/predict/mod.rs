//! What the prediction blueprints (dynamodb-predict, kinesis-predict) share: how
//! `FEATURES` maps a record's values to the model's inputs ([`FeatureMap`]), the cold
//! start's check of `MODEL` and `FEATURES` against the model ([`check_model`]), and
//! batched calls that bisect poison records ([`predict_all`]). Each blueprint reads its
//! records its own way (an item's attributes, a JSON record's fields) and names them
//! so in messages ([`FeatureNoun`]).

mod batch;
mod feature_map;
mod model_check;

pub use batch::{Predicted, predict_all};
pub use feature_map::{FeatureMap, FeatureNoun};
pub use model_check::{ModelCheck, ModelMismatch, check_model};

use crate::env::{self, SettingsError, non_empty, positive};
use crate::v1::AlgoPath;

/// The setting naming the model.
pub const MODEL: &str = "MODEL";
/// The setting mapping a record's values to the model's inputs.
pub const FEATURES: &str = "FEATURES";
/// The setting capping the records of one Predict call.
pub const MAX_BATCH_SIZE: &str = "MAX_BATCH_SIZE";
/// The algorithm a prediction blueprint calls unless `ALGORITHM` says otherwise.
pub const DEFAULT_ALGORITHM: &str = crate::v1::contracts::predict::PATH;

/// `ALGORITHM`, `MODEL`, `FEATURES` and `MAX_BATCH_SIZE`, which every prediction
/// blueprint reads the same way; its own settings keep them.
#[derive(Debug, Clone)]
pub struct PredictEnv {
    pub algorithm: AlgoPath,
    pub model: String,
    pub features: FeatureMap,
    pub max_batch_size: usize,
}

impl PredictEnv {
    /// Reads them from `env`; `noun` names what feeds a feature in `FEATURES` errors.
    pub fn from_env(
        env: &impl Fn(&str) -> Option<String>,
        noun: &FeatureNoun,
    ) -> Result<Self, SettingsError> {
        let algorithm = env::algorithm(env, DEFAULT_ALGORITHM)?;
        let model = non_empty(env, MODEL).ok_or_else(|| {
            SettingsError::invalid(
                MODEL,
                String::new(),
                "must name the model, e.g. breast-cancer or breast-cancer/1.0.0",
            )
        })?;
        let features = FeatureMap::parse(&non_empty(env, FEATURES).unwrap_or_default(), noun)?;
        Ok(Self {
            algorithm,
            model,
            features,
            max_batch_size: positive(env, MAX_BATCH_SIZE, 100)?,
        })
    }

    /// What [`predict_all`] and [`check_model`] read; `noun` as in [`Self::from_env`].
    pub fn settings<'a>(&'a self, noun: &'a FeatureNoun) -> PredictSettings<'a> {
        PredictSettings {
            algorithm: &self.algorithm,
            model: &self.model,
            features: &self.features,
            noun,
            max_batch_size: self.max_batch_size,
        }
    }
}

/// The settings [`predict_all`] and [`check_model`] read, borrowed from a blueprint's.
#[derive(Debug, Clone, Copy)]
pub struct PredictSettings<'a> {
    pub algorithm: &'a AlgoPath,
    /// `name[/version]` of the model, as the Predict algorithm takes it.
    pub model: &'a str,
    pub features: &'a FeatureMap,
    /// How the blueprint's messages name what feeds a feature.
    pub noun: &'a FeatureNoun,
    pub max_batch_size: usize,
}

/// A record to predict for: its values, in `FEATURES` order.
pub trait Record {
    fn features(&self) -> &[(String, f64)];
}
