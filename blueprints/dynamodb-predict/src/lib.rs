//! DynamoDB stream batch -> one batched prediction call -> predictions on the items.
//!
//! [`handle`] takes the stream batch and the [`Predictor`] built once per cold start.
//! Records are read by [`features`], predicted in batches by [`batch`], and written
//! back by [`writer`] with conditions that never resurrect an item or overwrite a
//! newer one.

pub mod batch;
pub mod features;
mod handler;
pub mod model_check;
mod settings;
pub mod writer;

pub use handler::{Predictor, StartError, handle, handle_batch};
pub use model_check::{ModelCheck, ModelMismatch};
pub use settings::{FeatureMap, Settings};
