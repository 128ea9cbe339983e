//! Face detection: RetinaFace through ONNX Runtime ([`crate::retina`]) when its model
//! is installed, else the SeetaFace frontal cascade (`rustface`, embedded) on a small
//! grey copy. [`Detector`] is the choice, made once at start.

use std::sync::{Arc, OnceLock};

use image::DynamicImage;
use rustface::{ImageData, Model};

use crate::retina::RetinaFace;
use crate::{Error, Limits, decode, resize};

/// Longer side of the grey copy [`find`] searches with SeetaFace: faces under ~2.5% of
/// the image's longer side are missed; 1 MP takes ~0.3 s on one core.
pub const DETECT_SIDE: u32 = 800;
/// Longer side of the copy [`find`] searches with RetinaFace: a face of 2.5% of the
/// longer side is then 42 px. On the labelled crowd mosaics (faces of 2.5-4.5%), 1280
/// found 95% of them and 1664 all.
pub const RETINA_FIND_SIDE: u32 = 1664;

/// The face detector of a server, chosen at start.
#[derive(Clone)]
pub enum Detector {
    /// The SeetaFace frontal cascade (`rustface`, model embedded): always there.
    Seeta,
    /// RetinaFace-MobileNet0.25 through ONNX Runtime (`models/faces/`, `make models`).
    Retina(Arc<RetinaFace>),
}

impl Detector {
    pub fn name(&self) -> &'static str {
        match self {
            Detector::Seeta => "SeetaFace (rustface)",
            Detector::Retina(_) => "RetinaFace (ONNX Runtime)",
        }
    }

    /// Longer side of the copy [`find`] searches.
    pub fn find_side(&self) -> u32 {
        match self {
            Detector::Seeta => DETECT_SIDE,
            Detector::Retina(_) => RETINA_FIND_SIDE,
        }
    }

    /// Longer side of the copy a smart thumbnail's faces are searched in: small enough
    /// that a 12 MP JPEG decodes at 1/8. RetinaFace then finds every face of at least
    /// 4% of the longer side on the labelled photos (24 of 24; 640 px found no more of
    /// them, for twice the time), and 11 of the 70 between 2.5 and 4% (the float graph
    /// 15, at 640 px 27): faces that end up under ~16 px in a thumbnail of the whole
    /// frame.
    pub fn thumbnail_side(&self) -> u32 {
        match self {
            Detector::Seeta => 500,
            Detector::Retina(_) => 500,
        }
    }

    /// The faces in `image`, searched on a copy whose longer side is at most
    /// `max_side`; boxes in `image`'s pixels.
    pub fn detect(&self, image: &DynamicImage, max_side: u32) -> Result<Vec<Face>, Error> {
        match self {
            Detector::Seeta => detect(image, max_side),
            Detector::Retina(retina) => retina.detect(image, max_side),
        }
    }
}

/// The SeetaFace frontal model (BSD-2) shipped inside the `rustface` crate; see build.rs.
const MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));
/// The detector's smallest window; faces smaller than this in the grey copy are missed.
const MIN_FACE: u32 = 20;

fn model() -> Result<&'static Model, Error> {
    static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
    MODEL
        .get_or_init(|| rustface::read_model(MODEL_BYTES).map_err(|error| error.to_string()))
        .as_ref()
        .map_err(|error| Error::FaceModel(error.clone()))
}

/// A face box in pixels of the image it was found in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Detector confidence, higher is surer: RetinaFace's probability (0.8 to 1), or
    /// SeetaFace's score (typically 2 to 30).
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

/// Finds frontal faces in `image` with SeetaFace, working on a grey copy whose longer
/// side is at most `max_side`; boxes are in `image`'s pixels.
pub fn detect(image: &DynamicImage, max_side: u32) -> Result<Vec<Face>, Error> {
    let (grey, scale) = resize::grey_copy(image, max_side)?;
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

/// The faces [`find`] found, in pixels of the original (upright) image.
#[derive(Debug, Clone, PartialEq)]
pub struct Faces {
    pub width: u32,
    pub height: u32,
    /// Surest first.
    pub faces: Vec<Face>,
}

/// The faces `detector` finds in `bytes` (an encoded image). `cancelled` is asked
/// between the decode and the search.
pub fn find(
    bytes: &[u8],
    limits: Limits,
    detector: &Detector,
    cancelled: &dyn Fn() -> bool,
) -> Result<Faces, Error> {
    let side = detector.find_side();
    let decoded = decode::decode(bytes, "input image", limits, |w, h| {
        let shrink = (f64::from(side) / f64::from(w.max(h))).min(1.0);
        (
            (f64::from(w) * shrink).ceil() as u32,
            (f64::from(h) * shrink).ceil() as u32,
        )
    })?;
    if cancelled() {
        return Err(Error::Cancelled);
    }
    let to_full = 1.0 / decoded.scale();
    let mut faces: Vec<Face> = detector
        .detect(&decoded.image, side)?
        .into_iter()
        .map(|face| {
            face.scaled(to_full)
                .clipped(decoded.full_width, decoded.full_height)
        })
        .collect();
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(Faces {
        width: decoded.full_width,
        height: decoded.full_height,
        faces,
    })
}
