//! Decoding with a pixel limit and EXIF orientation; JPEGs are scaled down in the DCT
//! domain when the caller needs fewer pixels: their header (size, colour, EXIF) is read
//! by `jpeg-decoder`, their pixels by libjpeg-turbo ([`crate::jpeg`]).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::{Error, Limits, jpeg};

/// A decoded, upright (EXIF-oriented) 8-bit image, possibly smaller than the original.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    pub image: DynamicImage,
    /// Size of the original image, upright.
    pub full_width: u32,
    pub full_height: u32,
}

impl DecodedImage {
    /// Decoded pixels per original pixel (1.0, or 1/2, 1/4, 1/8 for scaled JPEGs).
    pub fn scale(&self) -> f64 {
        f64::from(self.image.width()) / f64::from(self.full_width)
    }
}

/// Decodes `bytes` (JPEG, PNG, WebP, GIF (its first frame), BMP or TIFF); `what` names
/// them in errors. `min_size(width,
/// height)` gets the upright size of the original and returns the smallest size the
/// caller needs; JPEGs are decoded at the smallest DCT scale (1/8, 1/4, 1/2) that still
/// covers it.
pub fn decode(
    bytes: &[u8],
    what: &str,
    limits: Limits,
    min_size: impl Fn(u32, u32) -> (u32, u32),
) -> Result<DecodedImage, Error> {
    let format =
        image::guess_format(bytes).map_err(|_| Error::UnknownFormat { what: what.into() })?;
    match format {
        ImageFormat::Jpeg => decode_jpeg(bytes, what, limits, min_size),
        ImageFormat::Png
        | ImageFormat::WebP
        | ImageFormat::Gif
        | ImageFormat::Bmp
        | ImageFormat::Tiff => decode_generic(bytes, format, what, limits),
        other => Err(Error::UnsupportedFormat {
            what: what.into(),
            format: format_name(other, "unknown"),
        }),
    }
}

fn format_name(format: ImageFormat, unknown: &str) -> String {
    format
        .extensions_str()
        .first()
        .unwrap_or(&unknown)
        .to_ascii_uppercase()
}

fn check_pixels(width: u32, height: u32, what: &str, limits: Limits) -> Result<(), Error> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        return Err(Error::NoPixels {
            what: what.into(),
            width,
            height,
        });
    }
    if pixels > limits.max_image_pixels {
        return Err(Error::TooManyPixels {
            what: what.into(),
            width,
            height,
            pixels,
            limit: limits.max_image_pixels,
        });
    }
    Ok(())
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

fn decode_jpeg(
    bytes: &[u8],
    what: &str,
    limits: Limits,
    min_size: impl Fn(u32, u32) -> (u32, u32),
) -> Result<DecodedImage, Error> {
    let invalid = |error: jpeg_decoder::Error| match error {
        jpeg_decoder::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::TruncatedJpeg { what: what.into() }
        }
        error => Error::Invalid {
            what: what.into(),
            format: "JPEG".into(),
            reason: error.to_string(),
        },
    };
    let no_frame = || Error::NoFrameHeader { what: what.into() };
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(invalid)?;
    let info = decoder.info().ok_or_else(no_frame)?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_pixels(width, height, what, limits)?;
    if !matches!(
        info.pixel_format,
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24
    ) {
        // CMYK and 16-bit JPEGs are rare: decode them fully with the general decoder.
        return decode_generic(bytes, ImageFormat::Jpeg, what, limits);
    }
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let (full_width, full_height) = match swaps_axes(orientation) {
        true => (height, width),
        false => (width, height),
    };
    let (need_w, need_h) = min_size(full_width, full_height);
    let (need_w, need_h) = match swaps_axes(orientation) {
        true => (need_h, need_w),
        false => (need_w, need_h),
    };
    let divisor = [8u8, 4, 2]
        .into_iter()
        .find(|d| {
            width.div_ceil(u32::from(*d)) >= need_w && height.div_ceil(u32::from(*d)) >= need_h
        })
        .unwrap_or(1);
    let grey = matches!(info.pixel_format, jpeg_decoder::PixelFormat::L8);
    let (w, h, pixels) = jpeg::pixels(bytes, what, 8 / divisor, grey)?;
    let corrupt = || Error::ShortPixels { what: what.into() };
    let mut image = match grey {
        true => DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, pixels).ok_or_else(corrupt)?),
        false => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pixels).ok_or_else(corrupt)?),
    };
    image.apply_orientation(orientation);
    Ok(DecodedImage {
        image,
        full_width,
        full_height,
    })
}

fn decode_generic(
    bytes: &[u8],
    format: ImageFormat,
    what: &str,
    limits: Limits,
) -> Result<DecodedImage, Error> {
    let invalid = |error: image::ImageError| Error::Invalid {
        what: what.into(),
        format: format_name(format, "image"),
        reason: error.to_string(),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decode_limits = image::Limits::default();
    // Enough for the pixel limit at 16-bit RGBA, and no more.
    decode_limits.max_alloc = Some(limits.max_image_pixels.saturating_mul(8) + (64 << 20));
    reader.limits(decode_limits);
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, what, limits)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(invalid)?;
    let mut image = match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => {
            image
        }
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    image.apply_orientation(orientation);
    let (full_width, full_height) = (image.width(), image.height());
    Ok(DecodedImage {
        image,
        full_width,
        full_height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{Encoding, encode};

    fn any_size(w: u32, h: u32) -> (u32, u32) {
        (w, h)
    }

    #[test]
    fn checks_the_format_and_the_pixel_limit_before_decoding() {
        let unknown = decode(b"hello", "input image", Limits::default(), any_size).unwrap_err();
        assert!(matches!(unknown, Error::UnknownFormat { .. }), "{unknown}");
        // A truncated GIF is read as GIF and refused as such, not as an unknown format.
        let gif = decode(
            b"GIF89a\x01\x00",
            "input image",
            Limits::default(),
            any_size,
        );
        assert!(gif.is_err_and(|error| error.to_string().contains("GIF")));
        let avif = decode(
            b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00",
            "input image",
            Limits::default(),
            any_size,
        );
        assert!(avif.is_err(), "AVIF is not read");

        let png = encode(&DynamicImage::new_rgb8(200, 100), Encoding::Png).expect("encode");
        let small = Limits {
            max_image_pixels: 10_000,
        };
        let error = decode(&png, "input image", small, any_size).unwrap_err();
        assert_eq!(
            error.to_string(),
            "input image is 200 x 100 = 20000 pixels, above the server's limit of 10000 \
             pixels (--max-image-pixels)"
        );
        let decoded = decode(&png, "input image", Limits::default(), any_size).expect("decodes");
        assert_eq!((decoded.full_width, decoded.full_height), (200, 100));
        assert_eq!(decoded.scale(), 1.0);
    }

    fn astronaut() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/images/astronaut.jpg"
        );
        std::fs::read(path).expect("fixtures/images/astronaut.jpg")
    }

    #[test]
    fn libjpeg_pixels_match_jpeg_decoders_at_every_scale() {
        let jpeg = astronaut();
        for eighths in [1u8, 2, 4, 8] {
            let (w, h, ours) = jpeg::pixels(&jpeg, "input image", eighths, false).expect("decodes");
            let mut reference = jpeg_decoder::Decoder::new(Cursor::new(&jpeg));
            reference.read_info().expect("header");
            let info = reference.info().expect("info");
            let divisor = 8 / u32::from(eighths);
            let (rw, rh) = (
                u32::from(info.width).div_ceil(divisor),
                u32::from(info.height).div_ceil(divisor),
            );
            reference.scale(rw as u16, rh as u16).expect("scale");
            let theirs = reference.decode().expect("decodes");
            assert_eq!((w, h), (rw, rh), "size at {eighths}/8");
            assert_eq!(ours.len(), theirs.len());
            let mean_difference = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / ours.len() as f64;
            // Two scaled IDCTs and chroma upsamplers: close (3.3 at 1/8, where a pixel
            // is one DCT block's average), not identical; another image would be ~30+.
            assert!(
                mean_difference < 5.0,
                "{eighths}/8: mean difference {mean_difference}"
            );
        }
    }

    #[test]
    fn truncated_and_corrupt_jpegs_are_refused_not_filled_in() {
        let jpeg = astronaut();
        let truncated = decode(
            &jpeg[..jpeg.len() / 2],
            "input image",
            Limits::default(),
            any_size,
        )
        .unwrap_err();
        assert_eq!(
            truncated.to_string(),
            "input image is a truncated JPEG: the data ends before the image does"
        );
        assert!(truncated.is_input());
        // Entropy-coded data overwritten with markers libjpeg does not expect there.
        let mut corrupt = jpeg.clone();
        let middle = corrupt.len() / 2;
        for (i, byte) in corrupt[middle..middle + 64].iter_mut().enumerate() {
            *byte = if i % 2 == 0 { 0xFF } else { 0xD3 };
        }
        let error = decode(&corrupt, "input image", Limits::default(), any_size).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("input image is not a valid JPEG image: Corrupt JPEG data"),
            "{error}"
        );
        assert!(error.is_input());
    }

    #[test]
    fn jpegs_decode_at_the_smallest_dct_scale_that_covers_the_need() {
        let jpeg = encode(&DynamicImage::new_rgb8(800, 600), Encoding::Jpeg).expect("encode");
        let decoded =
            decode(&jpeg, "input image", Limits::default(), |_, _| (150, 100)).expect("decodes");
        assert_eq!((decoded.full_width, decoded.full_height), (800, 600));
        assert_eq!((decoded.image.width(), decoded.image.height()), (200, 150));
        assert_eq!(decoded.scale(), 0.25);
    }
}
