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

impl Region {
    /// All of `image`.
    pub fn whole(image: &DynamicImage) -> Self {
        Self {
            x: 0.0,
            y: 0.0,
            width: f64::from(image.width()),
            height: f64::from(image.height()),
        }
    }
}

/// The size of a copy of `image` whose longer side is at most `max_side` (never larger
/// than `image`), and its scale: `max_side` / the longer side, at most 1.
pub fn fit(image: &DynamicImage, max_side: u32) -> (u32, u32, f64) {
    let long_side = image.width().max(image.height());
    let scale = (f64::from(max_side) / f64::from(long_side)).min(1.0);
    let width = ((f64::from(image.width()) * scale).round() as u32).max(1);
    let height = ((f64::from(image.height()) * scale).round() as u32).max(1);
    (width, height, scale)
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
    let (width, height, scale) = fit(source, max_side);
    if scale >= 1.0 {
        return Ok((source.to_luma8(), 1.0));
    }
    let small = resize(source, Region::whole(source), width, height)?;
    Ok((
        small.to_luma8(),
        f64::from(width) / f64::from(source.width()),
    ))
}
