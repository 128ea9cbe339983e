//! Starter blueprint: SQS message batch -> one algorithm call per message -> a
//! partial batch response. Copy it to add an event source (docs/extending.md).
//!
//! [`handle`] takes the event and the [`Starter`] built once per cold start; `main`
//! only wires them to the Lambda runtime.

mod handler;
mod settings;

pub use handler::{Starter, handle, handle_batch};
pub use settings::Settings;
