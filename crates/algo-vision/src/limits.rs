//! Bounds on the images the pipelines accept.

/// Checked from an image's header before it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest image, in pixels (width x height); guards against decompression bombs.
    pub max_image_pixels: u64,
}

impl Limits {
    pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 64_000_000;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_image_pixels: Self::DEFAULT_MAX_IMAGE_PIXELS,
        }
    }
}
