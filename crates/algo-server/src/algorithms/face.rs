//! `blueprints/FaceDetection/1.0.0`: the frontal faces in an image, in the original
//! (upright) image's pixels. The detection lives in `algo_vision::faces`.

use std::sync::Arc;

use algo_vision::Detector;
use algo_vision::retina::RetinaFace;
use algorithmia_v1::Version;
use algorithmia_v1::contracts::face_detection::{FaceBox, Reply};

use super::images;
use crate::algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};
use crate::config::{Config, FaceDetectorChoice};

/// The detector `--face-detector` asks for. `auto` falls back to SeetaFace, saying why;
/// `retinaface` without its model or ONNX Runtime stops the start with the fix.
pub fn detector(config: &Config) -> Result<Detector, String> {
    if config.face_detector == FaceDetectorChoice::Seeta {
        tracing::info!("face detector: SeetaFace (--face-detector seeta)");
        return Ok(Detector::Seeta);
    }
    let graph = config.face_graph();
    let library = algo_predict::runtime::library_path(&config.models_dir);
    let loaded = algo_predict::runtime::Runtime::load(&library)
        .map_err(|error| error.to_string())
        .and_then(|runtime| RetinaFace::open(runtime.environment(), &graph));
    match (loaded, config.face_detector) {
        (Ok(retina), _) => {
            tracing::info!(graph = %graph.display(), "face detector: RetinaFace");
            Ok(Detector::Retina(Arc::new(retina)))
        }
        (Err(error), FaceDetectorChoice::Retinaface) => Err(format!(
            "--face-detector retinaface cannot start: {error}; run `make models` (or give --models-dir)"
        )),
        (Err(error), _) => {
            tracing::warn!(%error, "face detector: SeetaFace, since RetinaFace does not load (`make models` installs it); small, turned and dark faces are missed");
            Ok(Detector::Seeta)
        }
    }
}

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
            input: "image bytes (JPEG, PNG, WebP, GIF, BMP, TIFF), an image URL, or {\"image\": URL or base64}",
            output: "{\"width\", \"height\", \"faces\": [{\"x\", \"y\", \"width\", \"height\", \"score\"}]} in the upright image's pixels",
        }
    }

    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError> {
        let bytes = images::image_input(input, ctx)?;
        ctx.check_cancelled()?;
        let found = algo_vision::faces::find(&bytes, ctx.limits(), ctx.face_detector(), &|| {
            ctx.is_cancelled()
        })
        .map_err(|error| images::vision_error(error, ctx))?;
        ctx.print(format!(
            "{} face(s) in a {}x{} image",
            found.faces.len(),
            found.width,
            found.height
        ));
        let reply = Reply {
            width: found.width,
            height: found.height,
            faces: found
                .faces
                .into_iter()
                .map(|face| FaceBox {
                    x: face.x,
                    y: face.y,
                    width: face.width,
                    height: face.height,
                    score: face.score,
                })
                .collect(),
        };
        serde_json::to_value(reply)
            .map(Output::Json)
            .map_err(|error| AlgoError::failed(format!("faces do not serialise: {error}")))
    }
}
