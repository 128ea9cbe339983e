use std::time::{Duration, Instant};

use aws_sdk_s3::Client as S3;
use blueprint_core::client::ClientStartError;
use blueprint_core::lambda::{Diagnostic, deadline};
use blueprint_core::report::{Outcome, Report};
use blueprint_core::s3_event::{S3Notification, S3ObjectEvent};
use blueprint_core::s3_objects::{
    OutputObject, SourceObject, head_source, output_is_current, presign_get, put_output,
};
use blueprint_core::v1::contracts::smart_thumbnail;
use blueprint_core::{AlgorithmClient, CallOptions, Input};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

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
        let algorithms = AlgorithmClient::connect(&settings.algorithmia, aws).await?;
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
    let outcomes =
        futures::future::join_all(settings.sizes.iter().map(|&size| {
            make_thumbnail(thumbnailer, &source, output_bucket, &url, size, deadline)
        }))
        .await;
    match Outcome::combine(outcomes) {
        Outcome::Skipped { .. } => skip(format!("thumbnails are current for ETag {}", source.etag)),
        outcome => outcome,
    }
}

fn is_image_content_type(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or("").trim();
    base.starts_with("image/")
        || base.eq_ignore_ascii_case("application/octet-stream")
        || base.eq_ignore_ascii_case("binary/octet-stream")
}

/// One thumbnail: skipped when the output already comes from this source ETag.
async fn make_thumbnail(
    thumbnailer: &Thumbnailer,
    source: &SourceObject,
    output_bucket: &str,
    url: &str,
    size: Size,
    deadline: Instant,
) -> Outcome {
    let key = thumbnailer.output_key(size, &source.key);
    let failed = |e: &dyn std::fmt::Display| Outcome::Failed {
        error: format!("{size}: {e}"),
    };
    // S3 would refuse the write for good: no call made for it.
    if let Err(limit) = source.check_output(&key) {
        return Outcome::Rejected {
            error: format!("{size}: {limit}"),
        };
    }
    match output_is_current(&thumbnailer.s3, output_bucket, &key, source).await {
        Ok(true) => {
            return Outcome::Skipped {
                reason: format!("{key} is current"),
            };
        }
        Ok(false) => {}
        Err(e) => return failed(&e),
    }
    let settings = &thumbnailer.settings;
    let algorithm = &settings.algorithm;
    let legacy = algorithm.owner == smart_thumbnail::LEGACY_OWNER;
    let input = if legacy {
        Input::json(&smart_thumbnail::LegacyRequest(
            url.to_owned(),
            size.width,
            size.height,
        ))
    } else {
        Input::json(&smart_thumbnail::Request {
            image: url.to_owned(),
            width: size.width,
            height: size.height,
            format: Some(settings.format.name().to_owned()),
        })
    };
    let reply = match input {
        Ok(input) => {
            thumbnailer
                .algorithms
                .call(algorithm, input, &CallOptions::with_deadline(deadline))
                .await
        }
        Err(e) => Err(e),
    };
    let bytes = match reply.and_then(|reply| reply.into_bytes()) {
        Ok(bytes) => bytes,
        Err(e) => return Outcome::from(e).about(size),
    };
    let content_type = if legacy {
        "image/png"
    } else {
        settings.format.content_type()
    };
    let written = put_output(
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
    .await;
    match written {
        Ok(()) => Outcome::Done { outputs: vec![key] },
        Err(e) => Outcome::from(e).about(size),
    }
}
