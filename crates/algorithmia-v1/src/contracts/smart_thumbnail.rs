//! `blueprints/SmartThumbnail`: a width:height crop around the faces (or the busiest
//! content), resized and encoded. The result is the image's bytes (`binary`).

use serde::{Deserialize, Serialize};

/// The algorithm's default path.
pub const PATH: &str = "blueprints/SmartThumbnail/1.0.0";
/// Owner of Algorithmia's original algorithm, which takes [`LegacyRequest`].
pub const LEGACY_OWNER: &str = "opencv";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// An http(s) URL (a presigned S3 GET, say), a `data:` URI or base64 image data.
    pub image: String,
    pub width: u32,
    pub height: u32,
    /// `jpeg` (the default), `png` or `webp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// `[URL, WIDTH, HEIGHT]`: the input of `opencv/SmartThumbnail` that the original
/// Node.js blueprint sent. The result is a PNG (base64 in a JSON string on
/// Algorithmia, bytes from `algo-server`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyRequest(pub String, pub u32, pub u32);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_inputs_have_their_wire_shape() {
        let request = Request {
            image: "https://x/a.jpg".into(),
            width: 200,
            height: 100,
            format: Some("webp".into()),
        };
        assert_eq!(
            serde_json::to_value(&request).expect("serialises"),
            json!({"image": "https://x/a.jpg", "width": 200, "height": 100, "format": "webp"})
        );
        let legacy = LegacyRequest("https://x/a.jpg".into(), 200, 100);
        assert_eq!(
            serde_json::to_value(&legacy).expect("serialises"),
            json!(["https://x/a.jpg", 200, 100])
        );
    }
}
