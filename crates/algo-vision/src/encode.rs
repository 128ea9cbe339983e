//! Output encodings of thumbnails.

use std::io::Cursor;

use image::DynamicImage;

use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Jpeg,
    Png,
    /// Lossless WebP (the encoder the `image` crate ships).
    Webp,
}

impl Encoding {
    /// `jpeg` (or `jpg`), `png` or `webp`, in any case; `what` names the text in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, Error> {
        match text.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(Encoding::Jpeg),
            "png" => Ok(Encoding::Png),
            "webp" => Ok(Encoding::Webp),
            _ => Err(Error::UnknownEncoding {
                what: what.into(),
                text: text.into(),
            }),
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Encoding::Jpeg => "image/jpeg",
            Encoding::Png => "image/png",
            Encoding::Webp => "image/webp",
        }
    }
}

/// Encodes `image`; JPEGs at quality 85, without alpha.
pub fn encode(image: &DynamicImage, encoding: Encoding) -> Result<Vec<u8>, Error> {
    let mut out = Cursor::new(Vec::new());
    let result = match encoding {
        Encoding::Jpeg => {
            let rgb = match image {
                DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => image.clone(),
                other => DynamicImage::ImageRgb8(other.to_rgb8()),
            };
            rgb.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut out, 85,
            ))
        }
        Encoding::Png => image.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)),
        Encoding::Webp => {
            image.write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut out))
        }
    };
    result.map_err(|error| Error::Encode {
        encoding,
        reason: error.to_string(),
    })?;
    Ok(out.into_inner())
}
