use std::time::{Duration, Instant};

use aws_sdk_s3::Client as S3;
use blueprint_core::client::ClientStartError;
use blueprint_core::lambda::{Diagnostic, deadline};
use blueprint_core::report::{Outcome, Report};
use blueprint_core::s3_event::{S3Notification, S3ObjectEvent};
use blueprint_core::s3_objects::{
    OutputObject, SourceObject, check_key, delete_object, get_bytes, head_source,
    output_is_current, presign_get, presign_put, put_output,
};
use blueprint_core::{AlgorithmClient, AlgorithmError, CallOptions, Input};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use blueprint_core::v1::ErrorBody;
use blueprint_core::v1::contracts::speech_to_text;

use crate::captions::{Captions, Transcript};
use crate::settings::{Mode, Settings};

const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// Async jobs may wait in the server's queue: their URLs must outlive that.
const ASYNC_URL_LIFETIME: Duration = Duration::from_secs(6 * 3600);
const SYNC_URL_LIFETIME: Duration = Duration::from_secs(3600);
/// Transcriptions are heavy: few at once per invocation.
const RECORDS_AT_ONCE: usize = 2;

/// The four outputs, by extension and content type; `json` last: written last, it
/// marks the set complete.
const OUTPUTS: [(&str, &str); 4] = [
    ("txt", "text/plain; charset=utf-8"),
    ("vtt", "text/vtt; charset=utf-8"),
    ("srt", "application/x-subrip; charset=utf-8"),
    ("json", "application/json"),
];

/// Everything built once per cold start.
pub struct Transcriber {
    pub settings: Settings,
    pub algorithms: AlgorithmClient,
    pub s3: S3,
}

impl Transcriber {
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

    /// `OUTPUT_PREFIX` + source key + `.ext`.
    pub fn output_key(&self, source_key: &str, extension: &str) -> String {
        format!("{}{source_key}.{extension}", self.settings.output_prefix)
    }

    fn pending_key(&self, source: &SourceObject) -> String {
        format!(
            "{}{}/{}.{}.json",
            self.settings.pending_prefix(),
            source.bucket,
            source.key,
            source.etag
        )
    }

    fn output_bucket<'a>(&'a self, source_bucket: &'a str) -> &'a str {
        self.settings
            .output_bucket
            .as_deref()
            .unwrap_or(source_bucket)
    }
}

pub async fn handle(
    event: LambdaEvent<Value>,
    transcriber: &Transcriber,
) -> Result<Report, Diagnostic> {
    let deadline = deadline(&event.context, DEADLINE_MARGIN);
    handle_notification(event.payload, deadline, transcriber).await
}

pub async fn handle_notification(
    payload: Value,
    deadline: Instant,
    transcriber: &Transcriber,
) -> Result<Report, Diagnostic> {
    S3Notification::handle_each(payload, RECORDS_AT_ONCE, |record| async move {
        transcribe_record(&record, deadline, transcriber).await
    })
    .await
}

async fn transcribe_record(
    record: &S3ObjectEvent,
    deadline: Instant,
    transcriber: &Transcriber,
) -> Outcome {
    let settings = &transcriber.settings;
    let skip = |reason: String| Outcome::Skipped { reason };
    if !record.event_name.starts_with("ObjectCreated") {
        return skip(format!("event {} is not ObjectCreated", record.event_name));
    }
    let pending_prefix = settings.pending_prefix();
    if let Some(rest) = record.key.strip_prefix(&pending_prefix) {
        return render_pending(transcriber, &record.bucket, &record.key, rest).await;
    }
    if record.key.starts_with(&settings.output_prefix) {
        return skip(format!(
            "a transcript itself (under OUTPUT_PREFIX {})",
            settings.output_prefix
        ));
    }
    let suffix = record
        .key
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    if !suffix.is_some_and(|s| settings.media_suffixes.contains(&s)) {
        return skip(format!(
            "not media by its suffix (MEDIA_SUFFIXES: {})",
            settings.media_suffixes.join(" ")
        ));
    }
    let source = match head_source(&transcriber.s3, &record.bucket, &record.key).await {
        Ok(source) => source,
        Err(e) if e.not_found => return skip("deleted since the event".into()),
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            };
        }
    };
    if source.size > settings.max_media_bytes {
        return Outcome::Rejected {
            error: format!(
                "{} bytes is over MAX_MEDIA_BYTES ({})",
                source.size, settings.max_media_bytes
            ),
        };
    }
    let output_bucket = transcriber.output_bucket(&source.bucket);
    // S3 would refuse an output for good: no call made for it.
    for (extension, _) in OUTPUTS {
        if let Err(limit) = source.check_output(&transcriber.output_key(&source.key, extension)) {
            return Outcome::Rejected {
                error: limit.to_string(),
            };
        }
    }
    let marker = transcriber.output_key(&source.key, "json");
    match output_is_current(&transcriber.s3, output_bucket, &marker, &source).await {
        Ok(true) => return skip(format!("transcripts are current for ETag {}", source.etag)),
        Ok(false) => {}
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            };
        }
    }
    let time_left = deadline.saturating_duration_since(Instant::now());
    match settings.choose(source.size, time_left) {
        Mode::Async => start_async(transcriber, &source, output_bucket, deadline).await,
        Mode::Sync | Mode::Auto => {
            transcribe_now(transcriber, &source, output_bucket, deadline).await
        }
    }
}

fn algorithm_input(
    settings: &Settings,
    url: String,
    output_url: Option<String>,
) -> Result<Input, AlgorithmError> {
    Input::json(&speech_to_text::Request {
        url,
        output_url,
        language: settings.language.clone(),
        initial_prompt: None,
    })
}

async fn transcribe_now(
    transcriber: &Transcriber,
    source: &SourceObject,
    output_bucket: &str,
    deadline: Instant,
) -> Outcome {
    let url = match presign_get(
        &transcriber.s3,
        &source.bucket,
        &source.key,
        SYNC_URL_LIFETIME,
    )
    .await
    {
        Ok(url) => url,
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            };
        }
    };
    let settings = &transcriber.settings;
    let options = CallOptions {
        timeout: Some(deadline.saturating_duration_since(Instant::now())),
        ..CallOptions::with_deadline(deadline)
    };
    let call = async {
        let input = algorithm_input(settings, url, None)?;
        transcriber
            .algorithms
            .call(&settings.algorithm, input, &options)
            .await?
            .decode::<Value>()
    };
    let result: Value = match call.await {
        Ok(result) => result,
        Err(e) => return Outcome::from(e),
    };
    write_outputs(transcriber, source, output_bucket, result).await
}

async fn start_async(
    transcriber: &Transcriber,
    source: &SourceObject,
    output_bucket: &str,
    deadline: Instant,
) -> Outcome {
    let pending = transcriber.pending_key(source);
    // The server would PUT its result to a key S3 refuses, and the result be lost.
    if let Err(limit) = check_key(&pending) {
        return Outcome::Rejected {
            error: format!(
                "the async result's key: {limit} (set TRANSCRIBE_MODE=sync for such keys)"
            ),
        };
    }
    let urls = async {
        let get = presign_get(
            &transcriber.s3,
            &source.bucket,
            &source.key,
            ASYNC_URL_LIFETIME,
        )
        .await?;
        let put = presign_put(&transcriber.s3, output_bucket, &pending, ASYNC_URL_LIFETIME).await?;
        Ok::<_, blueprint_core::s3_objects::StorageError>((get, put))
    };
    let (get, put) = match urls.await {
        Ok(urls) => urls,
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            };
        }
    };
    let settings = &transcriber.settings;
    let call = async {
        let input = algorithm_input(settings, get, Some(put))?;
        transcriber
            .algorithms
            .call_void(
                &settings.algorithm,
                input,
                &CallOptions::with_deadline(deadline),
            )
            .await
    };
    match call.await {
        Ok(reply) => {
            tracing::info!(request_id = %reply.request_id, %pending, "transcribing asynchronously; the result will be rendered when it lands");
            Outcome::Done {
                outputs: vec![pending],
            }
        }
        Err(e) => Outcome::from(e),
    }
}

/// An async result landed at `PENDING/<source bucket>/<source key>.<etag>.json`:
/// render the four outputs from it, then remove it.
async fn render_pending(transcriber: &Transcriber, bucket: &str, key: &str, rest: &str) -> Outcome {
    let parsed = rest
        .strip_suffix(".json")
        .and_then(|r| r.split_once('/'))
        .and_then(|(source_bucket, r)| {
            r.rsplit_once('.')
                .map(|(source_key, etag)| (source_bucket, source_key, etag))
        });
    let Some((source_bucket, source_key, etag)) = parsed else {
        return Outcome::Rejected {
            error: format!("{key} is not a pending result name (<bucket>/<key>.<etag>.json)"),
        };
    };
    let source = SourceObject {
        bucket: source_bucket.to_owned(),
        key: source_key.to_owned(),
        etag: etag.to_owned(),
        content_type: None,
        size: 0,
    };
    let limit = transcriber.algorithms.max_reply_bytes();
    let body = match get_bytes(&transcriber.s3, bucket, key, limit).await {
        Ok(body) => body,
        Err(e) if e.not_found => {
            return Outcome::Skipped {
                reason: "already rendered".into(),
            };
        }
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            };
        }
    };
    let outcome = match serde_json::from_slice::<Value>(&body) {
        Ok(mut value) => match value.get_mut("error").map(Value::take) {
            Some(error) => {
                // The same rule as for a sync call: only InputError drops the upload;
                // any other kind stays failed (the result is kept) until the event
                // source's retries are spent and it reaches the failure destination.
                let error = serde_json::from_value::<ErrorBody>(error)
                    .unwrap_or_else(|_| ErrorBody::new("no message"));
                let message = format!(
                    "transcribing s3://{source_bucket}/{source_key} failed ({}): {}",
                    error.kind(),
                    error.message
                );
                if error.kind().is_input_error() {
                    Outcome::Rejected { error: message }
                } else {
                    Outcome::Failed { error: message }
                }
            }
            None => write_outputs(transcriber, &source, bucket, value).await,
        },
        Err(e) => Outcome::Failed {
            error: format!("the async result is not JSON: {e}"),
        },
    };
    if matches!(outcome, Outcome::Failed { .. }) {
        return outcome;
    }
    match delete_object(&transcriber.s3, bucket, key).await {
        Ok(()) => outcome,
        Err(e) => Outcome::Failed {
            error: e.to_string(),
        },
    }
}

/// Writes `.txt`, `.vtt`, `.srt`, then `.json`; if one fails, removes the others so
/// there is never a partial set.
async fn write_outputs(
    transcriber: &Transcriber,
    source: &SourceObject,
    output_bucket: &str,
    result: Value,
) -> Outcome {
    let transcript: Transcript = match serde_json::from_value(result.clone()) {
        Ok(t) => t,
        // Not the upload's fault: a wrong ALGORITHM or server, for an operator to fix.
        Err(e) => {
            return Outcome::Failed {
                error: format!("the algorithm's result is not a transcript: {e}"),
            };
        }
    };
    let mut written: Vec<String> = Vec::new();
    for (extension, content_type) in OUTPUTS {
        let body = match extension {
            "txt" => transcript.to_txt(),
            "vtt" => transcript.to_vtt(),
            "srt" => transcript.to_srt(),
            _ => result.to_string(),
        };
        let key = transcriber.output_key(&source.key, extension);
        let put = put_output(
            &transcriber.s3,
            OutputObject {
                bucket: output_bucket.to_owned(),
                key: key.clone(),
                body: body.into_bytes(),
                content_type: content_type.to_owned(),
                cache_control: None,
                metadata: source.output_metadata(),
            },
        )
        .await;
        if let Err(e) = put {
            for done in &written {
                if let Err(cleanup) = delete_object(&transcriber.s3, output_bucket, done).await {
                    tracing::error!(key = %done, error = %cleanup, "could not remove a partial output");
                }
            }
            return Outcome::from(e);
        }
        written.push(key);
    }
    Outcome::Done { outputs: written }
}
