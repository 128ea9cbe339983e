//! Why an image could not be read or made; `what` names the input in every message
//! about it (for example "input image" or "input field `image`").

use crate::encode::Encoding;
use crate::thumbnail::MAX_SIDE;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{what} is a data: URI without data")]
    DataUriWithoutData { what: String },
    #[error(
        "{what} uses {scheme}://, which algo-server cannot read; pass an http(s) URL \
         (for example a presigned S3 URL) or base64 image data"
    )]
    UnsupportedScheme { what: String, scheme: String },
    #[error("{what} is neither an http(s) URL nor base64 image data")]
    NotBase64 { what: String },
    #[error("{what} is not an image in a supported format (JPEG, PNG, WebP, GIF, BMP or TIFF)")]
    UnknownFormat { what: String },
    #[error("{what} is a {format} image; supported formats are JPEG, PNG, WebP, GIF, BMP and TIFF")]
    UnsupportedFormat { what: String, format: String },
    #[error("{what} has no pixels ({width} x {height})")]
    NoPixels {
        what: String,
        width: u32,
        height: u32,
    },
    #[error(
        "{what} is {width} x {height} = {pixels} pixels, above the server's limit of {limit} \
         pixels (--max-image-pixels)"
    )]
    TooManyPixels {
        what: String,
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
    #[error("{what} is a truncated JPEG: the data ends before the image does")]
    TruncatedJpeg { what: String },
    #[error("{what} is not a valid {format} image: {reason}")]
    Invalid {
        what: String,
        format: String,
        reason: String,
    },
    #[error("{what} is a JPEG without a frame header")]
    NoFrameHeader { what: String },
    #[error("{what} decoded to fewer pixels than its header says")]
    ShortPixels { what: String },
    #[error("{what} must be \"jpeg\", \"png\" or \"webp\", not {text:?}")]
    UnknownEncoding { what: String, text: String },
    #[error("a thumbnail of {width} x {height} pixels: each side must be from 1 to {MAX_SIDE}")]
    BadSize { width: u32, height: u32 },
    #[error("resizing failed: {0}")]
    Resize(String),
    #[error("encoding the {encoding:?} output failed: {reason}")]
    Encode { encoding: Encoding, reason: String },
    #[error("the embedded face model does not load: {0}")]
    FaceModel(String),
    /// The caller's `cancelled` check said stop.
    #[error("the image work was cancelled")]
    Cancelled,
}

impl Error {
    /// Whether the input is at fault, so retrying the same call cannot help.
    pub fn is_input(&self) -> bool {
        !matches!(
            self,
            Error::Resize(_) | Error::Encode { .. } | Error::FaceModel(_) | Error::Cancelled
        )
    }
}
