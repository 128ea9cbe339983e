//! Speech-to-text for video and audio: [`decode`] media (MP4/MOV/M4A with AAC, MP3,
//! WAV, FLAC, Ogg, MKV) to 16 kHz mono, then [`Transcriber::transcribe`] it with a
//! Whisper model run by whisper.cpp.
//!
//! ```no_run
//! use algo_speech::{DecodeLimits, Transcriber, TranscribeOptions, WhisperModel};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = WhisperModel::load("models/ggml-tiny.en.bin".as_ref())?;
//! let transcriber = Transcriber::new(model, 2);
//! let audio = algo_speech::decode(&std::fs::read("talk.mp4")?, DecodeLimits::default())?;
//! let transcript = transcriber.transcribe(&audio, &TranscribeOptions::default(), &|| false)?;
//! println!("{}", transcript.text);
//! # Ok(()) }
//! ```

pub mod decode;
pub mod model;
pub mod resample;
pub mod silence;
pub mod transcribe;

pub use decode::{DecodeLimits, MediaError, decode, decode_file};
pub use model::{ModelError, WhisperModel};
pub use transcribe::{Segment, TranscribeError, TranscribeOptions, Transcriber, Transcript};

/// The sample rate Whisper listens at.
pub const SAMPLE_RATE: u32 = 16_000;

/// Decoded media: mono samples at [`SAMPLE_RATE`], and the media's length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    /// Seconds, from the decoded frames at the source rate.
    pub duration: f64,
}
