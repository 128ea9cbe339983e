//! Kinesis stream batch -> one batched prediction call per chunk -> enriched records
//! on an output stream, and a partial batch response by sequence number.
//!
//! [`handle`] takes the batch and the [`Predictor`] built once per cold start. Records
//! are read by [`features`], predicted in chunks by [`blueprint_core::predict`] (bisecting a rejected
//! chunk down to the poison record), and written by [`output`] with `PutRecords`,
//! retrying only the failed entries and keeping each partition key's order.

pub mod features;
mod handler;
pub mod output;
mod settings;

pub use blueprint_core::predict::{FeatureMap, ModelCheck, ModelMismatch};
pub use handler::{Predictor, StartError, handle, handle_batch};
pub use settings::{
    FEATURES, MAX_BATCH_SIZE, MAX_PUT_ATTEMPTS, MODEL, OUTPUT_STREAM, Settings, stream_name,
};
