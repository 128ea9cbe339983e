//! Lanczos3 resizing of a region of an image, and small grey copies for analysis.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, GrayImage};

use crate::Error;

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
) -> Result<DynamicImage, Error> {
    resize_with(FilterType::Lanczos3, source, region, width, height)
}

/// Resizes `region` of `source` to `width` x `height` with a bilinear filter: for copies
/// a detector looks at, where Lanczos3's sharpness buys nothing and costs time.
pub fn resize_for_analysis(
    source: &DynamicImage,
    region: Region,
    width: u32,
    height: u32,
) -> Result<DynamicImage, Error> {
    resize_with(FilterType::Bilinear, source, region, width, height)
}

fn resize_with(
    filter: FilterType,
    source: &DynamicImage,
    region: Region,
    width: u32,
    height: u32,
) -> Result<DynamicImage, Error> {
    let mut target = DynamicImage::new(width.max(1), height.max(1), source.color());
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(filter))
        .crop(region.x, region.y, region.width, region.height);
    Resizer::new()
        .resize(source, &mut target, &options)
        .map_err(|error| Error::Resize(error.to_string()))?;
    Ok(target)
}

/// A grey copy whose longer side is at most `max_side`, and its scale (copy / source).
pub fn grey_copy(source: &DynamicImage, max_side: u32) -> Result<(GrayImage, f64), Error> {
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
