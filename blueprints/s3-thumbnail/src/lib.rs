//! S3 image upload -> smart thumbnails written back to S3.
//!
//! [`handle`] takes the S3 event and the [`Thumbnailer`] built once per cold start;
//! `main` only wires them to the Lambda runtime.

mod handler;
mod settings;

pub use handler::{Thumbnailer, handle, handle_notification};
pub use settings::{Settings, Size, ThumbnailFormat};
