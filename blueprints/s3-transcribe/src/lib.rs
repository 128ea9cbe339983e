//! S3 video/audio upload -> transcript and captions written back to S3.
//!
//! Short media is transcribed in the invocation (sync). Long media is sent with
//! `output=void` and a presigned PUT URL under `OUTPUT_PREFIX.pending/`; when that
//! result lands, the same function renders the four outputs from it (async). Which
//! one comes from the media's duration, read from its header (`media`). Every async
//! job is tracked by a marker until rendered; a scheduled sweep resubmits jobs whose
//! result never came, then gives them up to the failure queue (`jobs`).

mod captions;
mod handler;
pub mod jobs;
pub mod media;
mod settings;

pub use captions::{Captions, Segment, Transcript};
pub use handler::{Transcriber, handle, handle_notification};
pub use jobs::{JobMarker, SweepEvent, sweep};
pub use settings::{Mode, Settings};
