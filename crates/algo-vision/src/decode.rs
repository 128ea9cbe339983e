//! Image input and output shared by the image algorithms: reading an image reference
//! (URL, base64, bytes), decoding with a pixel limit and EXIF orientation (JPEGs scaled
//! down in the DCT domain when the caller needs fewer pixels), resizing, encoding.

use std::io::Cursor;

use base64::Engine;
use bytes::Bytes;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::algorithm::{AlgoError, Context, Limits};

/// An image reference in an input: an `http(s)` URL, a `data:` URI or bare base64.
/// `what` names the input field in errors.
pub fn read_reference(reference: &str, what: &str, ctx: &Context) -> Result<Bytes, AlgoError> {
    let reference = reference.trim();
    let lower = reference.get(..8).unwrap_or(reference).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return ctx.fetch(reference, what);
    }
    let encoded = match lower.starts_with("data:") {
        true => match reference.split_once(',') {
            Some((_, data)) => data,
            None => {
                return Err(AlgoError::input(format!(
                    "{what} is a data: URI without data"
                )));
            }
        },
        false => reference,
    };
    if let Some((scheme, _)) = reference.split_once("://") {
        return Err(AlgoError::input(format!(
            "{what} uses {scheme}://, which algo-server cannot read; pass an http(s) URL \
             (for example a presigned S3 URL) or base64 image data"
        )));
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&compact))
        .map(Bytes::from)
        .map_err(|_| {
            AlgoError::input(format!(
                "{what} is neither an http(s) URL nor base64 image data"
            ))
        })
}

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

/// Decodes `bytes` (JPEG, PNG or WebP). `min_size(width, height)` gets the upright size
/// of the original and returns the smallest size the caller needs; JPEGs are decoded at
/// the smallest DCT scale (1/8, 1/4, 1/2) that still covers it.
pub fn decode(
    bytes: &[u8],
    what: &str,
    limits: Limits,
    min_size: impl Fn(u32, u32) -> (u32, u32),
) -> Result<DecodedImage, AlgoError> {
    let format = image::guess_format(bytes).map_err(|_| {
        AlgoError::input(format!(
            "{what} is not an image in a supported format (JPEG, PNG or WebP)"
        ))
    })?;
    match format {
        ImageFormat::Jpeg => decode_jpeg(bytes, what, limits, min_size),
        ImageFormat::Png | ImageFormat::WebP => decode_generic(bytes, format, what, limits),
        other => Err(AlgoError::input(format!(
            "{what} is a {} image; supported formats are JPEG, PNG and WebP",
            other
                .extensions_str()
                .first()
                .unwrap_or(&"unknown")
                .to_ascii_uppercase()
        ))),
    }
}

fn check_pixels(width: u32, height: u32, what: &str, limits: Limits) -> Result<(), AlgoError> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        return Err(AlgoError::input(format!(
            "{what} has no pixels ({width} x {height})"
        )));
    }
    if pixels > limits.max_image_pixels {
        return Err(AlgoError::input(format!(
            "{what} is {width} x {height} = {pixels} pixels, above the server's limit of {} \
             pixels (--max-image-pixels)",
            limits.max_image_pixels
        )));
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
) -> Result<DecodedImage, AlgoError> {
    let invalid = |error: jpeg_decoder::Error| match error {
        jpeg_decoder::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            AlgoError::input(format!(
                "{what} is a truncated JPEG: the data ends before the image does"
            ))
        }
        error => AlgoError::input(format!("{what} is not a valid JPEG image: {error}")),
    };
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(invalid)?;
    let info = decoder
        .info()
        .ok_or_else(|| AlgoError::input(format!("{what} is a JPEG without a frame header")))?;
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
    let divisor = [8u32, 4, 2]
        .into_iter()
        .find(|d| width.div_ceil(*d) >= need_w && height.div_ceil(*d) >= need_h)
        .unwrap_or(1);
    if divisor > 1 {
        // Ask for exactly the divided size so the decoder picks that DCT scale.
        let (w, h) = (width.div_ceil(divisor), height.div_ceil(divisor));
        decoder
            .scale(
                u16::try_from(w).unwrap_or(u16::MAX),
                u16::try_from(h).unwrap_or(u16::MAX),
            )
            .map_err(invalid)?;
    }
    let pixels = decoder.decode().map_err(invalid)?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(orientation);
    let info = decoder
        .info()
        .ok_or_else(|| AlgoError::input(format!("{what} is a JPEG without a frame header")))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let corrupt = || {
        AlgoError::input(format!(
            "{what} decoded to fewer pixels than its header says"
        ))
    };
    let mut image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, pixels).ok_or_else(corrupt)?)
        }
        _ => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pixels).ok_or_else(corrupt)?),
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
) -> Result<DecodedImage, AlgoError> {
    let name = format
        .extensions_str()
        .first()
        .unwrap_or(&"image")
        .to_ascii_uppercase();
    let invalid = |error: image::ImageError| {
        AlgoError::input(format!("{what} is not a valid {name} image: {error}"))
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

/// A region of an image, in that image's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Resizes `region` of `source` to exactly `width` x `height` (Lanczos3).
pub fn resize(
    source: &DynamicImage,
    region: Region,
    width: u32,
    height: u32,
) -> Result<DynamicImage, AlgoError> {
    let mut target = DynamicImage::new(width.max(1), height.max(1), source.color());
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(region.x, region.y, region.width, region.height);
    Resizer::new()
        .resize(source, &mut target, &options)
        .map_err(|error| AlgoError::failed(format!("resizing failed: {error}")))?;
    Ok(target)
}

/// A grey copy whose longer side is at most `max_side`, and its scale (copy / source).
pub fn grey_copy(source: &DynamicImage, max_side: u32) -> Result<(GrayImage, f64), AlgoError> {
    let long_side = source.width().max(source.height());
    if long_side <= max_side {
        return Ok((source.to_luma8(), 1.0));
    }
    let scale = f64::from(max_side) / f64::from(long_side);
    let width = ((f64::from(source.width()) * scale).round() as u32).max(1);
    let height = ((f64::from(source.height()) * scale).round() as u32).max(1);
    let whole = Region {
        x: 0.0,
        y: 0.0,
        width: f64::from(source.width()),
        height: f64::from(source.height()),
    };
    let small = resize(source, whole, width, height)?;
    Ok((
        small.to_luma8(),
        f64::from(width) / f64::from(source.width()),
    ))
}

/// Output encodings of thumbnails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Jpeg,
    Png,
    /// Lossless WebP (the encoder the `image` crate ships).
    Webp,
}

impl Encoding {
    pub fn parse(text: &str, what: &str) -> Result<Self, AlgoError> {
        match text.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(Encoding::Jpeg),
            "png" => Ok(Encoding::Png),
            "webp" => Ok(Encoding::Webp),
            _ => Err(AlgoError::input(format!(
                "{what} must be \"jpeg\", \"png\" or \"webp\", not {text:?}"
            ))),
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

pub fn encode(image: &DynamicImage, encoding: Encoding) -> Result<Vec<u8>, AlgoError> {
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
    result.map_err(|error| {
        AlgoError::failed(format!("encoding the {encoding:?} output failed: {error}"))
    })?;
    Ok(out.into_inner())
}
