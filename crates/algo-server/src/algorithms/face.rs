//! `blueprints/FaceDetection/1.0.0`: the frontal faces in an image, in the original
//! (upright) image's pixels.

use algorithmia_v1::Version;
use serde_json::json;

use crate::algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};
use crate::{faces, imaging};

/// Longer side of the grey copy faces are searched in: faces under ~2.5% of the
/// image's longer side are missed; 1 MP takes ~0.3 s on one core.
pub const DETECT_SIDE: u32 = 800;

pub struct FaceDetection;

impl Algorithm for FaceDetection {
    fn owner(&self) -> &str {
        super::OWNER
    }

    fn name(&self) -> &str {
        "FaceDetection"
    }

    fn versions(&self) -> &[Version] {
        &super::V1_0_0
    }

    fn description(&self) -> Description {
        Description {
            input: "image bytes (JPEG, PNG, WebP), an image URL, or {\"image\": URL or base64}",
            output: "{\"width\", \"height\", \"faces\": [{\"x\", \"y\", \"width\", \"height\", \"score\"}]} in the upright image's pixels",
        }
    }

    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError> {
        let bytes = super::image_input(input, ctx)?;
        ctx.check_cancelled()?;
        let decoded = imaging::decode(&bytes, "input image", ctx.limits(), |w, h| {
            let shrink = (f64::from(DETECT_SIDE) / f64::from(w.max(h))).min(1.0);
            (
                (f64::from(w) * shrink).ceil() as u32,
                (f64::from(h) * shrink).ceil() as u32,
            )
        })?;
        ctx.check_cancelled()?;
        let to_full = 1.0 / decoded.scale();
        let mut found: Vec<faces::Face> = faces::detect(&decoded.image, DETECT_SIDE)?
            .into_iter()
            .map(|face| {
                face.scaled(to_full)
                    .clipped(decoded.full_width, decoded.full_height)
            })
            .collect();
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(Output::Json(json!({
            "width": decoded.full_width,
            "height": decoded.full_height,
            "faces": found,
        })))
    }
}
