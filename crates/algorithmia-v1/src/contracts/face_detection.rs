//! `blueprints/FaceDetection`: the faces of an image, most confident first.

use serde::{Deserialize, Serialize};

/// The algorithm's default path.
pub const PATH: &str = "blueprints/FaceDetection/1.0.0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// An http(s) URL, a `data:` URI or base64 image data.
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The image's size in pixels; face boxes are in the same pixels.
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceBox>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The detector's confidence (higher is surer; not a probability).
    pub score: f64,
}
