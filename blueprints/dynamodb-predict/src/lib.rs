//! DynamoDB stream batch -> one batched prediction call -> predictions on the items.
//!
//! [`handle`] takes the stream batch and the [`Predictor`] built once per cold start.
//! Records are read by [`features`], predicted in batches by [`blueprint_core::predict`], and written
//! back by [`writer`] with conditions that never resurrect an item or overwrite a
//! newer one.

pub mod features;
mod handler;
mod settings;
pub mod writer;

pub use blueprint_core::predict::{FeatureMap, ModelCheck, ModelMismatch};
pub use handler::{Predictor, StartError, handle, handle_batch};
pub use settings::Settings;
