//! Output encodings of thumbnails.

use std::io::Cursor;

use image::DynamicImage;

use crate::{Error, jpeg};

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
    let failed = |reason: String| Error::Encode { encoding, reason };
    let mut out = Cursor::new(Vec::new());
    let result = match encoding {
        Encoding::Jpeg => {
            let (width, height) = (image.width(), image.height());
            return match image {
                DynamicImage::ImageLuma8(grey) => jpeg::encode(grey, width, height, true, 85),
                DynamicImage::ImageRgb8(rgb) => jpeg::encode(rgb, width, height, false, 85),
                other => jpeg::encode(&other.to_rgb8(), width, height, false, 85),
            }
            .map_err(failed);
        }
        Encoding::Png => image.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)),
        Encoding::Webp => {
            image.write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut out))
        }
    };
    result.map_err(|error| failed(error.to_string()))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Rgb, RgbImage, RgbaImage};

    fn decoded(bytes: &[u8]) -> DynamicImage {
        image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg).expect("a JPEG")
    }

    #[test]
    fn a_jpeg_keeps_size_and_colours() {
        // Left half red, right half blue: a colour swap or a stride slip shows at once.
        let rgb = RgbImage::from_fn(301, 17, |x, _| match x < 150 {
            true => Rgb([200, 30, 30]),
            false => Rgb([20, 40, 210]),
        });
        let out = encode(&DynamicImage::ImageRgb8(rgb), Encoding::Jpeg).expect("encodes");
        let back = decoded(&out).to_rgb8();
        assert_eq!(back.dimensions(), (301, 17));
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 12);
        assert!(
            close(back.get_pixel(40, 8).0, [200, 30, 30]),
            "{:?}",
            back.get_pixel(40, 8)
        );
        assert!(
            close(back.get_pixel(260, 8).0, [20, 40, 210]),
            "{:?}",
            back.get_pixel(260, 8)
        );
    }

    #[test]
    fn grey_stays_one_channel_and_alpha_is_dropped() {
        let grey = GrayImage::from_pixel(64, 48, image::Luma([90]));
        let out = encode(&DynamicImage::ImageLuma8(grey), Encoding::Jpeg).expect("encodes");
        let back = decoded(&out);
        assert_eq!(back.color(), image::ColorType::L8);
        assert!(back.to_luma8().pixels().all(|p| p.0[0].abs_diff(90) <= 2));

        let rgba = RgbaImage::from_pixel(10, 10, image::Rgba([10, 200, 10, 0]));
        let out = encode(&DynamicImage::ImageRgba8(rgba), Encoding::Jpeg).expect("encodes");
        assert_eq!(decoded(&out).color(), image::ColorType::Rgb8);
    }
}
