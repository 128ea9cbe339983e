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

use crate::v1::AlgoPath;

/// The setting naming the model.
pub const MODEL: &str = "MODEL";
/// The setting mapping a record's values to the model's inputs.
pub const FEATURES: &str = "FEATURES";

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
