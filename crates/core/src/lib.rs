//! Shared core of the Lambda blueprints.
//!
//! - [`env`]: the environment contract every blueprint shares: names and readers.
//! - [`settings`]: [`AlgorithmiaSettings`], the shared settings, read once.
//! - [`auth`]: [`Auth`], the auth mode: the API key, or SigV4 with the role (`iam`).
//! - [`api_key`]: the Algorithmia API key, plain or KMS-encrypted, never printed.
//! - [`client`]: [`AlgorithmClient`], the Algorithmia v1 HTTP client.
//! - [`s3_event`]: S3 notifications, including key decoding and `s3:TestEvent`.
//! - [`lambda`]: runtime glue (tracing, AWS config, deadlines, error diagnostics).
//! - [`trust`]: the root certificates both HTTPS clients trust, read once.
//! - [`report`]: per-record outcomes and what the invocation returns.
//! - [`metrics`]: one CloudWatch EMF line per invocation (records by outcome, calls).
//! - [`predict`]: `FEATURES`, the model check and batched Predict calls of the
//!   prediction blueprints.

pub mod api_key;
pub mod auth;
pub mod client;
pub mod env;
pub mod lambda;
pub mod metrics;
pub mod predict;
pub mod report;
pub mod s3_event;
pub mod s3_objects;
pub mod settings;
pub mod trust;

pub use algorithmia_v1 as v1;
pub use api_key::{ApiKey, KeyError, KeySource};
pub use auth::Auth;
pub use client::{
    AlgoOutput, AlgoResponse, AlgorithmClient, AlgorithmError, CallOptions, Input, RetryPolicy,
};
pub use env::SettingsError;
pub use settings::AlgorithmiaSettings;
