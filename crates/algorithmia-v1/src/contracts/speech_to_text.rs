//! `blueprints/SpeechToText`: a transcript of the speech in a video or audio file.

use serde::{Deserialize, Serialize};

/// The algorithm's default path.
pub const PATH: &str = "blueprints/SpeechToText/1.0.0";

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Request {
    /// An http(s) URL of the media (a presigned S3 GET, say).
    pub url: String,
    /// Where to PUT the [`Transcript`] (or an error envelope) when the call is made
    /// with `output=void`: a presigned S3 PUT URL, say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_url: Option<String>,
    /// A Whisper language code (`en`, `de`, ...) or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Text that primes the decoder: spellings, names, style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_prompt: Option<String>,
}

/// The result; times in seconds from the start of the media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub text: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub duration: f64,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
}
