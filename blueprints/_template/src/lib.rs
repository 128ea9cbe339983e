//! SQS message batch -> one algorithm call per message -> a
//! partial batch response. Copy it to add an event source (docs/extending.md).
//!
//! [`handle`] takes the event and the [`Blueprint`] built once per cold start; `main`
//! only wires them to the Lambda runtime.

mod handler;
mod settings;

pub use handler::{Blueprint, handle, handle_batch};
pub use settings::Settings;
