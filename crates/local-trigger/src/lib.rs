//! Local event delivery for development: what Lambda's event sources do in AWS,
//! done against moto and `cargo lambda watch`.
//!
//! - [`aws_json`]: moto's SQS, DynamoDB Streams and Kinesis JSON APIs.
//! - [`invoke`]: invocations through the Runtime API emulator.
//! - [`sources`]: the polling loops, with retries and a dead-letter log.

pub mod aws_json;
pub mod invoke;
pub mod sources;

pub use aws_json::{AwsJson, ShardCursor, StreamKind, StreamReader, lambda_event, sequence_number};
