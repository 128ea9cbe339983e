//! S3 video/audio upload -> transcript and captions written back to S3.
//!
//! Short media is transcribed in the invocation (sync). Long media is sent with
//! `output=void` and a presigned PUT URL under `OUTPUT_PREFIX.pending/`; when that
//! result lands, the same function renders the four outputs from it (async).

mod captions;
mod handler;
mod settings;

pub use captions::{Captions, Segment, Transcript};
pub use handler::{Transcriber, handle, handle_notification};
pub use settings::{Mode, Settings};
