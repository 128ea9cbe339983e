//! Frontal face detection with `rustface` (SeetaFace), on a small grey copy.

use std::sync::OnceLock;

use image::DynamicImage;
use rustface::{ImageData, Model};
use serde::Serialize;

use crate::algorithm::AlgoError;
use crate::imaging;

/// The SeetaFace frontal model (BSD-2) shipped inside the `rustface` crate; see build.rs.
const MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));
/// The detector's smallest window; faces smaller than this in the grey copy are missed.
const MIN_FACE: u32 = 20;

fn model() -> Result<&'static Model, AlgoError> {
    static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
    MODEL
        .get_or_init(|| rustface::read_model(MODEL_BYTES).map_err(|error| error.to_string()))
        .as_ref()
        .map_err(|error| {
            AlgoError::failed(format!("the embedded face model does not load: {error}"))
        })
}

/// A face box in pixels of the image it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Face {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Detector confidence (SeetaFace score; higher is surer, typically 2 to 30).
    pub score: f64,
}

impl Face {
    /// The same box in an image `factor` times as large.
    pub fn scaled(self, factor: f64) -> Face {
        Face {
            x: self.x * factor,
            y: self.y * factor,
            width: self.width * factor,
            height: self.height * factor,
            score: self.score,
        }
    }

    /// Clipped to a `width` x `height` image, rounded to whole pixels.
    pub fn clipped(self, width: u32, height: u32) -> Face {
        let (w, h) = (f64::from(width), f64::from(height));
        let x0 = self.x.clamp(0.0, w).round();
        let y0 = self.y.clamp(0.0, h).round();
        let x1 = (self.x + self.width).clamp(0.0, w).round();
        let y1 = (self.y + self.height).clamp(0.0, h).round();
        Face {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
            score: (self.score * 1000.0).round() / 1000.0,
        }
    }
}

/// Finds faces in `image`, working on a grey copy whose longer side is at most
/// `max_side`; boxes are in `image`'s pixels.
pub fn detect(image: &DynamicImage, max_side: u32) -> Result<Vec<Face>, AlgoError> {
    let (grey, scale) = imaging::grey_copy(image, max_side)?;
    if grey.width() < MIN_FACE || grey.height() < MIN_FACE {
        return Ok(Vec::new());
    }
    let mut detector = rustface::create_detector_with_model(model()?.clone());
    detector.set_min_face_size(MIN_FACE);
    detector.set_score_thresh(2.0);
    detector.set_pyramid_scale_factor(0.8);
    detector.set_slide_window_step(4, 4);
    let found = detector.detect(&ImageData::new(grey.as_raw(), grey.width(), grey.height()));
    Ok(found
        .iter()
        .map(|face| {
            let bbox = face.bbox();
            Face {
                x: f64::from(bbox.x()),
                y: f64::from(bbox.y()),
                width: f64::from(bbox.width()),
                height: f64::from(bbox.height()),
                score: face.score(),
            }
            .scaled(1.0 / scale)
        })
        .collect())
}
