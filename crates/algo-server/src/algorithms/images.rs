//! What FaceDetection and SmartThumbnail share: the `--max-image-pixels` flag, reading
//! the image of an input (URLs fetched under the server's rules), and mapping
//! `algo_vision` errors onto the protocol.

use algo_vision::{Limits, Reference};
use bytes::Bytes;
use serde_json::Value;

use crate::algorithm::{AlgoError, Context, Input};

/// The image algorithms' flags, flattened into [`crate::Config`].
#[derive(Debug, Clone, clap::Args)]
pub struct ImageArgs {
    /// Largest image accepted, in pixels (width x height, read from the header before
    /// decoding; guards against decompression bombs).
    #[arg(
        long,
        env = "ALGO_SERVER_MAX_IMAGE_PIXELS",
        default_value_t = Limits::DEFAULT_MAX_IMAGE_PIXELS
    )]
    pub max_image_pixels: u64,
}

impl ImageArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_image_pixels: self.max_image_pixels,
        }
    }
}

/// The image of an input that is image bytes, an image reference (URL or base64) as
/// text or a JSON string, or a JSON object with an `image` reference.
pub(crate) fn image_input(input: Input, ctx: &Context) -> Result<Bytes, AlgoError> {
    match input {
        Input::Binary(bytes) => Ok(bytes),
        Input::Text(reference) => read_reference(&reference, "input", ctx),
        Input::Json(Value::String(reference)) => read_reference(&reference, "input", ctx),
        Input::Json(object @ Value::Object(_)) => image_field(&object, ctx),
        other => Err(AlgoError::input(format!(
            "input must be image bytes, an image URL, or {{\"image\": URL or base64}}, not {}",
            super::kind_of(&other)
        ))),
    }
}

/// The error for an `image` field that is not a string.
pub(crate) const IMAGE_FIELD_NOT_A_STRING: &str =
    "input field `image` must be a string: an http(s) URL, a data:// URI or base64 image data";

/// The `image` field of a JSON object input: an http(s) URL, a data: URI or base64.
pub(crate) fn image_field(object: &Value, ctx: &Context) -> Result<Bytes, AlgoError> {
    match super::field(object, "image")? {
        Value::String(reference) => read_reference(reference, "input field `image`", ctx),
        _ => Err(AlgoError::input(IMAGE_FIELD_NOT_A_STRING)),
    }
}

/// An image reference; `what` names the input field in errors.
pub(crate) fn read_reference(
    reference: &str,
    what: &str,
    ctx: &Context,
) -> Result<Bytes, AlgoError> {
    // Before parsing: `data://` would otherwise read as a malformed `data:` URI.
    if reference.trim_start().starts_with("data://") {
        return ctx.fetch(reference, what);
    }
    match algo_vision::reference::parse(reference, what) {
        Ok(Reference::Url(url)) => ctx.fetch(url, what),
        Ok(Reference::Inline(bytes)) => Ok(Bytes::from(bytes)),
        Err(error) => Err(vision_error(error, ctx)),
    }
}

/// Bad images and settings are the caller's fault; a cancelled pipeline reports the
/// call's timeout.
pub(crate) fn vision_error(error: algo_vision::Error, ctx: &Context) -> AlgoError {
    match error {
        algo_vision::Error::Cancelled => ctx
            .check_cancelled()
            .err()
            .unwrap_or_else(|| AlgoError::timeout(error.to_string())),
        error if error.is_input() => AlgoError::input(error.to_string()),
        error => AlgoError::failed(error.to_string()),
    }
}
