//! `algo-server`: a self-hostable server that speaks the Algorithmia v1 algorithm API
//! and hosts real algorithms (echo, face detection, smart thumbnails).
//!
//! The crate is a library with a thin `main`, so other crates and tests can build a
//! [`Registry`], start a server in-process with [`server::serve`], or plug in new
//! [`Algorithm`]s.

pub mod algorithm;
pub mod algorithms;
pub mod body;
pub mod config;
pub mod data;
pub mod edge;
pub mod fetch;
pub mod lambda;
pub mod pool;
pub mod protocol;
pub mod registry;
pub mod server;

pub use algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};
pub use config::Config;
pub use fetch::{FetchError, FetchPolicy, Fetcher};
pub use registry::Registry;
