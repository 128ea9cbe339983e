//! Smart thumbnails: a W:H crop around the faces (or the busiest content), resized and
//! encoded, never upscaled.

use crate::encode::{self, Encoding};
use crate::faces::Detector;
use crate::resize::{self, Region};
use crate::{Error, Limits, crop, decode, faces};

/// Longer side of the grey copy the content-aware fallback measures edges in.
const CONTENT_SIDE: u32 = 256;
/// Largest thumbnail side accepted.
pub const MAX_SIDE: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailSpec {
    pub width: u32,
    pub height: u32,
    pub encoding: Encoding,
}

/// Makes the thumbnail of `bytes` (an encoded image) around the faces `detector` finds.
/// `cancelled` is asked between the decode, the face search and the resize.
pub fn thumbnail(
    bytes: &[u8],
    spec: ThumbnailSpec,
    limits: Limits,
    detector: &Detector,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<u8>, Error> {
    let ThumbnailSpec { width, height, .. } = spec;
    let sides = 1..=MAX_SIDE;
    if !sides.contains(&width) || !sides.contains(&height) {
        return Err(Error::BadSize { width, height });
    }
    let detect_side = detector.thumbnail_side();
    let decoded = decode::decode(bytes, "input image", limits, |full_w, full_h| {
        let window = crop::window(full_w, full_h, width, height);
        let (out_w, out_h) = crop::output_size(window, width, height);
        let for_detection = (f64::from(detect_side) / f64::from(full_w.max(full_h))).min(1.0);
        let scale = (f64::from(out_w) / window.0)
            .max(f64::from(out_h) / window.1)
            .max(for_detection);
        (
            (f64::from(full_w) * scale).ceil() as u32,
            (f64::from(full_h) * scale).ceil() as u32,
        )
    })?;
    let check = || match cancelled() {
        true => Err(Error::Cancelled),
        false => Ok(()),
    };
    check()?;
    let (full_w, full_h) = (decoded.full_width, decoded.full_height);
    let to_full = 1.0 / decoded.scale();
    let found: Vec<faces::Face> = detector
        .detect(&decoded.image, detect_side)?
        .into_iter()
        .map(|face| face.scaled(to_full))
        .collect();
    check()?;
    let window = crop::window(full_w, full_h, width, height);
    let region = match crop::on_faces(full_w, full_h, window, &found) {
        Some(region) => region,
        None => {
            let (grey, grey_scale) = resize::grey_copy(&decoded.image, CONTENT_SIDE)?;
            crop::on_content(full_w, full_h, window, &grey, grey_scale * decoded.scale())
        }
    };
    let (out_w, out_h) = crop::output_size(window, width, height);
    let s = decoded.scale();
    let in_decoded = Region {
        x: region.x * s,
        y: region.y * s,
        width: (region.width * s).min(f64::from(decoded.image.width())),
        height: (region.height * s).min(f64::from(decoded.image.height())),
    };
    let resized = resize::resize(&decoded.image, in_decoded, out_w, out_h)?;
    encode::encode(&resized, spec.encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(width: u32, height: u32) -> ThumbnailSpec {
        ThumbnailSpec {
            width,
            height,
            encoding: Encoding::Png,
        }
    }

    #[test]
    fn sizes_outside_the_bounds_are_refused_before_decoding() {
        for (w, h) in [(0, 10), (10, 0), (MAX_SIDE + 1, 10)] {
            let error = thumbnail(
                b"",
                spec(w, h),
                Limits::default(),
                &Detector::Seeta,
                &|| false,
            )
            .unwrap_err();
            assert_eq!(
                error,
                Error::BadSize {
                    width: w,
                    height: h
                }
            );
            assert!(error.is_input());
        }
    }

    #[test]
    fn a_flat_image_gives_a_centred_thumbnail_of_the_asked_size() {
        let image = image::DynamicImage::new_rgb8(64, 32);
        let png = encode::encode(&image, Encoding::Png).expect("encode");
        let out = thumbnail(
            &png,
            spec(16, 16),
            Limits::default(),
            &Detector::Seeta,
            &|| false,
        )
        .expect("thumbnail");
        let thumb = image::load_from_memory(&out).expect("decodes");
        assert_eq!((thumb.width(), thumb.height()), (16, 16));
        let cancelled = thumbnail(
            &png,
            spec(16, 16),
            Limits::default(),
            &Detector::Seeta,
            &|| true,
        );
        assert_eq!(cancelled, Err(Error::Cancelled));
    }
}
