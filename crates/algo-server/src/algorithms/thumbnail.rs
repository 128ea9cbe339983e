//! `blueprints/SmartThumbnail/1.0.0` and the `opencv/SmartThumbnail` compatibility alias:
//! a W:H crop around the faces (or the busiest content), resized and encoded.

use algo_vision::thumbnail::MAX_SIDE;
use algo_vision::{Encoding, ThumbnailSpec};
use algorithmia_v1::Version;
use algorithmia_v1::contracts::smart_thumbnail;
use bytes::Bytes;
use serde_json::Value;

use super::images;
use crate::algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};

/// Size the compatibility alias uses when the input gives none.
const ALIAS_DEFAULT_SIDE: u32 = 200;

/// Makes the thumbnail of `bytes` (an encoded image) with `algo_vision::thumbnail`; with
/// an `output` URI it is written there and the URI is the result, as the old algorithms
/// answered.
fn thumbnail(
    bytes: &[u8],
    spec: ThumbnailSpec,
    output: Option<String>,
    ctx: &Context,
) -> Result<Output, AlgoError> {
    let encoding = spec.encoding;
    let thumbnail = algo_vision::thumbnail(bytes, spec, ctx.limits(), ctx.face_detector(), &|| {
        ctx.is_cancelled()
    })
    .map_err(|error| images::vision_error(error, ctx))?;
    ctx.print(format!(
        "thumbnail {}x{} ({} bytes)",
        spec.width,
        spec.height,
        thumbnail.len()
    ));
    let Some(output) = output else {
        return Ok(Output::Binary(thumbnail));
    };
    let content_type = match encoding {
        Encoding::Jpeg => "image/jpeg",
        Encoding::Png => "image/png",
        Encoding::Webp => "image/webp",
    };
    ctx.put(&output, thumbnail, content_type, "input field `output`")?;
    Ok(Output::Text(output))
}

/// Where an object input asks the thumbnail to be written: `output` (or `output_url`),
/// a `data://` URI or an http(s) PUT URL.
fn output_target(input: &Input) -> Result<Option<String>, AlgoError> {
    let Input::Json(object @ Value::Object(_)) = input else {
        return Ok(None);
    };
    for name in ["output", "output_url"] {
        match object.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(uri))
                if ["data://", "http://", "https://"]
                    .iter()
                    .any(|scheme| uri.trim_start().starts_with(scheme)) =>
            {
                return Ok(Some(uri.trim().to_owned()));
            }
            Some(_) => {
                return Err(AlgoError::input(format!(
                    "input field `{name}` must be a data:// URI or an http(s) PUT URL"
                )));
            }
        }
    }
    Ok(None)
}

/// A thumbnail side from a JSON value (`what` names it in errors).
fn side_from_json(value: Option<&Value>, what: &str) -> Result<u32, AlgoError> {
    let value = value.ok_or_else(|| AlgoError::input(format!("{what} is missing")))?;
    let number = match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    checked_side(number, &value.to_string(), what)
}

fn side_from_text(text: Option<&str>, what: &str) -> Result<u32, AlgoError> {
    let text = text.ok_or_else(|| AlgoError::input(format!("{what} is missing")))?;
    checked_side(text.trim().parse().ok(), text, what)
}

fn checked_side(number: Option<u64>, shown: &str, what: &str) -> Result<u32, AlgoError> {
    number
        .filter(|n| (1..=u64::from(MAX_SIDE)).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| {
            AlgoError::input(format!(
                "{what} must be a whole number of pixels from 1 to {MAX_SIDE}, not {shown}"
            ))
        })
}

fn encoding_from(
    value: Option<&str>,
    what: &str,
    default: Encoding,
) -> Result<Encoding, AlgoError> {
    value.map_or(Ok(default), |text| {
        Encoding::parse(text, what).map_err(|error| AlgoError::input(error.to_string()))
    })
}

/// The object input as the shared contract, read leniently (sides may come as strings,
/// as older clients sent them), each error naming the field. Takes the object to move
/// its `image` string out: base64 of a 12 MP photo is megabytes not worth copying.
fn request_from_object(mut object: Value) -> Result<smart_thumbnail::Request, AlgoError> {
    let format = match object.get("format") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            return Err(AlgoError::input(
                "input field `format` must be \"jpeg\", \"png\" or \"webp\"",
            ));
        }
    };
    let width = side_from_json(object.get("width"), "input field `width`")?;
    let height = side_from_json(object.get("height"), "input field `height`")?;
    let image = match super::take_field(&mut object, "image")? {
        Value::String(reference) => reference,
        _ => return Err(AlgoError::input(images::IMAGE_FIELD_NOT_A_STRING)),
    };
    Ok(smart_thumbnail::Request {
        image,
        width,
        height,
        format,
    })
}

/// The thumbnail an object input asks for, its image read.
fn from_object(
    object: Value,
    default: Encoding,
    ctx: &Context,
) -> Result<(Bytes, ThumbnailSpec), AlgoError> {
    let request = request_from_object(object)?;
    let spec = ThumbnailSpec {
        width: request.width,
        height: request.height,
        encoding: encoding_from(request.format.as_deref(), "input field `format`", default)?,
    };
    let bytes = images::read_reference(&request.image, "input field `image`", ctx)?;
    Ok((bytes, spec))
}

/// `[URL, WIDTH, HEIGHT]` (the shared contract's `LegacyRequest`), the input of the
/// original Node.js blueprint.
fn from_array(items: &[Value], ctx: &Context) -> Result<(Bytes, ThumbnailSpec), AlgoError> {
    let [Value::String(reference), width, height] = items else {
        return Err(AlgoError::input(
            "an array input must be [URL, WIDTH, HEIGHT] (three items, the first a string)",
        ));
    };
    let request = smart_thumbnail::LegacyRequest(
        reference.clone(),
        side_from_json(Some(width), "input item 2 (WIDTH)")?,
        side_from_json(Some(height), "input item 3 (HEIGHT)")?,
    );
    let spec = ThumbnailSpec {
        width: request.1,
        height: request.2,
        encoding: Encoding::Png,
    };
    Ok((
        images::read_reference(&request.0, "input item 1 (URL)", ctx)?,
        spec,
    ))
}

pub struct SmartThumbnail;

impl Algorithm for SmartThumbnail {
    fn owner(&self) -> &str {
        super::OWNER
    }

    fn name(&self) -> &str {
        "SmartThumbnail"
    }

    fn versions(&self) -> &[Version] {
        &super::V1_0_0
    }

    fn description(&self) -> Description {
        Description {
            input: "{\"image\": URL, data:// URI or base64, \"width\", \"height\", \"format\"?: \"jpeg\"|\"png\"|\"webp\", \"output\"?: data:// URI or PUT URL}, or image bytes with ?width=&height=&format= query parameters",
            output: "the thumbnail (bytes; JPEG unless `format` says otherwise), cropped to width:height around the faces, never upscaled",
        }
    }

    fn output_url(&self, input: &Input) -> Option<String> {
        output_target(input).ok().flatten()
    }

    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError> {
        let output = output_target(&input)?;
        let (bytes, spec) = match input {
            Input::Json(object @ Value::Object(_)) => from_object(object, Encoding::Jpeg, ctx)?,
            Input::Json(Value::Array(items)) => from_array(&items, ctx)?,
            Input::Binary(bytes) => {
                let spec = ThumbnailSpec {
                    width: side_from_text(ctx.param("width"), "query parameter `width`")?,
                    height: side_from_text(ctx.param("height"), "query parameter `height`")?,
                    encoding: encoding_from(
                        ctx.param("format"),
                        "query parameter `format`",
                        Encoding::Jpeg,
                    )?,
                };
                (bytes, spec)
            }
            other => {
                return Err(AlgoError::input(format!(
                    "input must be {{\"image\", \"width\", \"height\"}} or image bytes, not {}",
                    super::kind_of(&other)
                )));
            }
        };
        ctx.check_cancelled()?;
        thumbnail(&bytes, spec, output, ctx)
    }
}

/// `opencv/SmartThumbnail`, for callers written against Algorithmia's algorithm:
/// `[URL, WIDTH, HEIGHT]` (the original blueprint), `{"image", "width", "height"}` (2.x),
/// or image bytes / an image URL (0.1, 200 x 200). Returns a PNG, base64 in the envelope.
pub struct OpencvSmartThumbnail;

const ALIAS_VERSIONS: [Version; 3] = [
    Version::new(0, 1, 14),
    Version::new(2, 1, 2),
    Version::new(2, 1, 3),
];

impl Algorithm for OpencvSmartThumbnail {
    fn owner(&self) -> &str {
        smart_thumbnail::LEGACY_OWNER
    }

    fn name(&self) -> &str {
        "SmartThumbnail"
    }

    fn versions(&self) -> &[Version] {
        &ALIAS_VERSIONS
    }

    fn description(&self) -> Description {
        Description {
            input: "[URL, WIDTH, HEIGHT] (compatibility with Algorithmia's opencv/SmartThumbnail), {\"image\", \"width\", \"height\"}, or image bytes / URL (200 x 200)",
            output: "a PNG thumbnail (bytes: base64 in the envelope)",
        }
    }

    fn output_url(&self, input: &Input) -> Option<String> {
        output_target(input).ok().flatten()
    }

    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError> {
        let output = output_target(&input)?;
        let square = ThumbnailSpec {
            width: ALIAS_DEFAULT_SIDE,
            height: ALIAS_DEFAULT_SIDE,
            encoding: Encoding::Png,
        };
        let (bytes, spec) = match input {
            Input::Json(Value::Array(items)) => from_array(&items, ctx)?,
            Input::Json(object @ Value::Object(_)) => from_object(object, Encoding::Png, ctx)?,
            other => (images::image_input(other, ctx)?, square),
        };
        ctx.check_cancelled()?;
        thumbnail(&bytes, spec, output, ctx)
    }
}
