use std::time::{Duration, Instant};

use aws_sdk_s3::Client as S3;
use blueprint_core::client::ClientStartError;
use blueprint_core::lambda::{Diagnostic, deadline};
use blueprint_core::report::{Outcome, Report};
use blueprint_core::s3_event::{S3Notification, S3ObjectEvent};
use blueprint_core::s3_objects::{
    OutputObject, SourceObject, head_source, output_is_current, presign_get, put_output,
};
use blueprint_core::{AlgorithmClient, AlgorithmError, CallOptions, Input};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::settings::{Settings, Size};

/// Suffixes taken for images; anything else is skipped without a call.
const IMAGE_SUFFIXES: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"];
/// Time kept back from the invocation deadline to report the outcome.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
const PRESIGN_FOR: Duration = Duration::from_secs(15 * 60);

/// Everything built once per cold start.
pub struct Thumbnailer {
    pub settings: Settings,
    pub algorithms: AlgorithmClient,
    pub s3: S3,
}

impl Thumbnailer {
    pub async fn connect(
        settings: Settings,
        aws: &blueprint_core::lambda::SdkConfig,
    ) -> Result<Self, ClientStartError> {
        let kms = aws_sdk_kms::Client::new(aws);
        let algorithms = AlgorithmClient::connect(&settings.algorithmia, &kms).await?;
        Ok(Self {
            settings,
            algorithms,
            s3: S3::new(aws),
        })
    }

    /// `OUTPUT_PREFIX` + `WxH/` + the source key, with the output format's extension
    /// appended when the source's differs (so `a.png` and `a.jpg` never collide).
    pub fn output_key(&self, size: Size, source_key: &str) -> String {
        let format = self.settings.format;
        let ext = extension(source_key);
        let same = ext.is_some_and(|e| {
            e == format.extension() || (e == "jpeg" && format.extension() == "jpg")
        });
        let suffix = if same {
            String::new()
        } else {
            format!(".{}", format.extension())
        };
        format!("{}{size}/{source_key}{suffix}", self.settings.output_prefix)
    }

    fn output_bucket<'a>(&'a self, source_bucket: &'a str) -> &'a str {
        self.settings
            .output_bucket
            .as_deref()
            .unwrap_or(source_bucket)
    }
}

fn extension(key: &str) -> Option<String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
}

/// The Lambda handler.
pub async fn handle(
    event: LambdaEvent<Value>,
    thumbnailer: &Thumbnailer,
) -> Result<Report, Diagnostic> {
    let deadline = deadline(&event.context, DEADLINE_MARGIN);
    handle_notification(event.payload, deadline, thumbnailer).await
}

/// Handles one S3 notification; records run concurrently, each on its own.
pub async fn handle_notification(
    payload: Value,
    deadline: Instant,
    thumbnailer: &Thumbnailer,
) -> Result<Report, Diagnostic> {
    S3Notification::handle_each(
        payload,
        thumbnailer.settings.max_concurrent_records,
        |record| async move { thumbnail_record(&record, deadline, thumbnailer).await },
    )
    .await
}

async fn thumbnail_record(
    record: &S3ObjectEvent,
    deadline: Instant,
    thumbnailer: &Thumbnailer,
) -> Outcome {
    let skip = |reason: String| Outcome::Skipped { reason };
    let settings = &thumbnailer.settings;
    if !record.event_name.starts_with("ObjectCreated") {
        return skip(format!("event {} is not ObjectCreated", record.event_name));
    }
    let output_bucket = thumbnailer.output_bucket(&record.bucket);
    if output_bucket == record.bucket && record.key.starts_with(&settings.output_prefix) {
        return skip(format!(
            "a thumbnail itself (under OUTPUT_PREFIX {})",
            settings.output_prefix
        ));
    }
    if !extension(&record.key).is_some_and(|e| IMAGE_SUFFIXES.contains(&e.as_str())) {
        return skip(format!(
            "not an image by its suffix (expected one of {})",
            IMAGE_SUFFIXES.join(", ")
        ));
    }
    let source = match head_source(&thumbnailer.s3, &record.bucket, &record.key).await {
        Ok(source) => source,
        Err(e) if e.not_found => return skip("deleted since the event".into()),
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            };
        }
    };
    if let Some(content_type) = source.content_type.as_deref()
        && !is_image_content_type(content_type)
    {
        return skip(format!("content type {content_type} is not an image"));
    }
    if source.size > settings.max_image_bytes {
        return Outcome::Rejected {
            error: format!(
                "{} bytes is over MAX_IMAGE_BYTES ({})",
                source.size, settings.max_image_bytes
            ),
        };
    }
    let url = match presign_get(&thumbnailer.s3, &source.bucket, &source.key, PRESIGN_FOR).await {
        Ok(url) => url,
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            };
        }
    };
    let results =
        futures::future::join_all(settings.sizes.iter().map(|&size| {
            make_thumbnail(thumbnailer, &source, output_bucket, &url, size, deadline)
        }))
        .await;

    let mut written = Vec::new();
    let mut rejected = Vec::new();
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(Some(key)) => written.push(key),
            Ok(None) => {}
            Err(SizeError::Permanent(e)) => rejected.push(e),
            Err(SizeError::Transient(e)) => failed.push(e),
        }
    }
    if !failed.is_empty() {
        Outcome::Failed {
            error: failed.join("; "),
        }
    } else if !rejected.is_empty() {
        Outcome::Rejected {
            error: rejected.join("; "),
        }
    } else if written.is_empty() {
        skip(format!("thumbnails are current for ETag {}", source.etag))
    } else {
        Outcome::Done { outputs: written }
    }
}

fn is_image_content_type(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or("").trim();
    base.starts_with("image/")
        || base.eq_ignore_ascii_case("application/octet-stream")
        || base.eq_ignore_ascii_case("binary/octet-stream")
}

enum SizeError {
    Permanent(String),
    Transient(String),
}

/// One thumbnail: skipped when the output already comes from this source ETag.
async fn make_thumbnail(
    thumbnailer: &Thumbnailer,
    source: &SourceObject,
    output_bucket: &str,
    url: &str,
    size: Size,
    deadline: Instant,
) -> Result<Option<String>, SizeError> {
    let key = thumbnailer.output_key(size, &source.key);
    let transient = |e: &dyn std::fmt::Display| SizeError::Transient(format!("{size}: {e}"));
    if output_is_current(&thumbnailer.s3, output_bucket, &key, source)
        .await
        .map_err(|e| transient(&e))?
    {
        return Ok(None);
    }
    let settings = &thumbnailer.settings;
    let algorithm = &settings.algorithm;
    // The original Algorithmia algorithm took `[URL, W, H]` and returned base64 PNG.
    let legacy = algorithm.owner == "opencv";
    let input = if legacy {
        json!([url, size.width, size.height])
    } else {
        json!({"image": url, "width": size.width, "height": size.height,
               "format": settings.format.name()})
    };
    let bytes = thumbnailer
        .algorithms
        .call(
            algorithm,
            Input::Json(input),
            &CallOptions::with_deadline(deadline),
        )
        .await
        .and_then(|reply| reply.into_bytes())
        .map_err(|e| classify(size, e))?;
    let content_type = if legacy {
        "image/png"
    } else {
        settings.format.content_type()
    };
    put_output(
        &thumbnailer.s3,
        OutputObject {
            bucket: output_bucket.to_owned(),
            key: key.clone(),
            body: bytes,
            content_type: content_type.to_owned(),
            cache_control: Some(settings.cache_control.clone()),
            metadata: source.output_metadata(),
        },
    )
    .await
    .map_err(|e| transient(&e))?;
    Ok(Some(key))
}

/// Input problems are permanent; everything else (throttling, 5xx, timeouts, and
/// configuration errors that an operator must fix) fails the invocation.
fn classify(size: Size, error: AlgorithmError) -> SizeError {
    let message = format!("{size}: {error}");
    if error.is_input_problem() {
        SizeError::Permanent(message)
    } else {
        SizeError::Transient(message)
    }
}
