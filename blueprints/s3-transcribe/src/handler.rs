use std::time::{Duration, Instant, SystemTime};

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
use crate::jobs::{self, JobMarker, SweepEvent};
use crate::media::{self, S3Ranges};
use crate::settings::{Mode, Settings};

const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// Async jobs may wait in the server's queue: their URLs must outlive that.
const ASYNC_URL_LIFETIME: Duration = Duration::from_secs(6 * 3600);
const SYNC_URL_LIFETIME: Duration = Duration::from_secs(3600);
/// Transcriptions are heavy: few at once per invocation.
const RECORDS_AT_ONCE: usize = 2;
/// Auto mode keeps this much of the invocation back from a sync call, so a call that
/// times out can still start the async job in its place.
const ASYNC_FALLBACK_RESERVE: Duration = Duration::from_secs(10);

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
    /// Only the sweep uses it: a job given up goes to `FAILURE_QUEUE_URL`.
    pub sqs: aws_sdk_sqs::Client,
}

impl Transcriber {
    pub async fn connect(
        settings: Settings,
        aws: &blueprint_core::lambda::SdkConfig,
    ) -> Result<Self, ClientStartError> {
        let algorithms = AlgorithmClient::connect(&settings.algorithmia, aws).await?;
        Ok(Self::new(settings, algorithms, aws))
    }

    /// From an algorithm client already built (tests build theirs).
    pub fn new(
        settings: Settings,
        algorithms: AlgorithmClient,
        aws: &blueprint_core::lambda::SdkConfig,
    ) -> Self {
        Self {
            settings,
            algorithms,
            s3: S3::new(aws),
            sqs: aws_sdk_sqs::Client::new(aws),
        }
    }

    /// `OUTPUT_PREFIX` + source key + `.ext`.
    pub fn output_key(&self, source_key: &str, extension: &str) -> String {
        format!("{}{source_key}.{extension}", self.settings.output_prefix)
    }

    pub(crate) fn pending_key(&self, source: &SourceObject) -> String {
        format!(
            "{}{}/{}.{}.json",
            self.settings.pending_prefix(),
            source.bucket,
            source.key,
            source.etag
        )
    }

    /// Where an async job of this version of `source` is tracked until rendered.
    pub(crate) fn marker_key(&self, source: &SourceObject) -> String {
        format!(
            "{}{}/{}.{}.json",
            self.settings.jobs_prefix(),
            source.bucket,
            source.key,
            source.etag
        )
    }

    pub(crate) fn output_bucket<'a>(&'a self, source_bucket: &'a str) -> &'a str {
        self.settings
            .output_bucket
            .as_deref()
            .unwrap_or(source_bucket)
    }
}

/// An S3 notification, or the scheduled sweep of async jobs
/// (`{"sweep": "async-jobs", "bucket": ...}`).
pub async fn handle(
    event: LambdaEvent<Value>,
    transcriber: &Transcriber,
) -> Result<Report, Diagnostic> {
    let deadline = deadline(&event.context, DEADLINE_MARGIN);
    let output_bucket = transcriber.settings.output_bucket.as_deref();
    if let Some(sweep) = SweepEvent::recognise(&event.payload, output_bucket) {
        return jobs::sweep(transcriber, sweep?, SystemTime::now(), deadline).await;
    }
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
    if record.key.starts_with(&settings.jobs_prefix()) {
        return skip(format!(
            "an async job marker (under {}), read by the sweep only",
            settings.jobs_prefix()
        ));
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
    // A replayed upload while its async job runs: the job (and the sweep) owns it.
    let marker_key = transcriber.marker_key(&source);
    match head_source(&transcriber.s3, output_bucket, &marker_key).await {
        Ok(_) => {
            return skip(format!(
                "an async job for ETag {} is in flight ({marker_key}); the sweep resubmits it if no result arrives",
                source.etag
            ));
        }
        Err(e) if e.not_found => {}
        Err(e) => return Outcome::from(e),
    }
    let duration = match settings.mode {
        Mode::Auto | Mode::Async => {
            let ranges = S3Ranges {
                s3: &transcriber.s3,
                bucket: &source.bucket,
                key: &source.key,
            };
            media::estimate(&ranges, source.size, settings.bitrate_floor).await
        }
        // Forced sync never needs it: the bitrate floor stands in for the marker.
        Mode::Sync => media::MediaDuration {
            seconds: source.size as f64 * 8.0 / settings.bitrate_floor as f64,
            from: crate::settings::MEDIA_BITRATE_FLOOR,
        },
    };
    let time_left = deadline.saturating_duration_since(Instant::now());
    let mode = settings.choose(duration.seconds, time_left);
    tracing::info!(key = %source.key, seconds = duration.seconds, from = duration.from, ?mode, "media duration");
    let first = Attempt {
        number: 1,
        started_at: jobs::unix(SystemTime::now()),
        media_seconds: duration.seconds,
    };
    match mode {
        Mode::Async => {
            start_async(
                transcriber,
                &source,
                output_bucket,
                first,
                SystemTime::now(),
                deadline,
            )
            .await
        }
        Mode::Sync | Mode::Auto => {
            // Auto mode keeps time back to fall back to async; forced sync waits to the end.
            let fallback = settings.mode == Mode::Auto;
            let call_deadline = if fallback {
                deadline
                    .checked_sub(ASYNC_FALLBACK_RESERVE)
                    .unwrap_or(deadline)
            } else {
                deadline
            };
            match transcribe_now(transcriber, &source, output_bucket, call_deadline).await {
                SyncOutcome::TimedOut(error) if fallback => {
                    tracing::warn!(key = %source.key, %error, "the sync call timed out: falling back to async");
                    start_async(
                        transcriber,
                        &source,
                        output_bucket,
                        first,
                        SystemTime::now(),
                        deadline,
                    )
                    .await
                }
                SyncOutcome::TimedOut(error) => Outcome::from(error),
                SyncOutcome::Finished(outcome) => outcome,
            }
        }
    }
}

/// How a sync call ended: with an outcome, or timed out (the server's `TimeoutError`,
/// or the client's own timeout), which auto mode turns into an async job.
enum SyncOutcome {
    Finished(Outcome),
    TimedOut(AlgorithmError),
}

fn timed_out(error: &AlgorithmError) -> bool {
    match error {
        AlgorithmError::Algorithm { kind, .. } => {
            *kind == blueprint_core::v1::ErrorKind::TimeoutError
        }
        AlgorithmError::Timeout { .. } | AlgorithmError::DeadlineExceeded { .. } => true,
        _ => false,
    }
}

/// One submission of an async job: its number (1 for the upload's own), when the first
/// was made, and the media's duration (for the algorithm's timeout).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub number: u32,
    pub started_at: u64,
    pub media_seconds: f64,
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
) -> SyncOutcome {
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
            return SyncOutcome::Finished(Outcome::Failed {
                error: e.to_string(),
            });
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
        Err(e) if timed_out(&e) => return SyncOutcome::TimedOut(e),
        Err(e) => return SyncOutcome::Finished(Outcome::from(e)),
    };
    SyncOutcome::Finished(write_outputs(transcriber, source, output_bucket, result).await)
}

/// Submits the job with `output=void`: the marker first (so an accepted job is
/// always tracked), then the call. A failed first submission removes the marker and
/// fails the record (the event source retries it); a failed resubmission (the sweep's)
/// leaves the marker due at once, with the error, for the next sweep.
pub(crate) async fn start_async(
    transcriber: &Transcriber,
    source: &SourceObject,
    output_bucket: &str,
    attempt: Attempt,
    now: SystemTime,
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
    let timeout = settings.async_timeout(attempt.media_seconds);
    let mut marker = JobMarker::new(source, attempt, now, settings.async_wait(timeout));
    let marker_key = transcriber.marker_key(source);
    if let Err(e) = jobs::write_marker(transcriber, output_bucket, &marker_key, &marker).await {
        return Outcome::from(e);
    }
    let call = async {
        let input = algorithm_input(settings, get, Some(put))?;
        let options = CallOptions {
            timeout: Some(timeout),
            ..CallOptions::with_deadline(deadline)
        };
        transcriber
            .algorithms
            .call_void(&settings.algorithm, input, &options)
            .await
    };
    match call.await {
        Ok(reply) => {
            tracing::info!(request_id = %reply.request_id, %pending, attempt = attempt.number, deadline = marker.deadline, "transcribing asynchronously; the result will be rendered when it lands");
            Outcome::Done {
                outputs: vec![pending],
            }
        }
        Err(e) if e.is_input_problem() || attempt.number == 1 => {
            jobs::remove_marker(transcriber, output_bucket, &marker_key).await;
            Outcome::from(e)
        }
        Err(e) => {
            marker.deadline = jobs::unix(now);
            marker.last_error = Some(e.to_string());
            if let Err(write) =
                jobs::write_marker(transcriber, output_bucket, &marker_key, &marker).await
            {
                tracing::warn!(key = %marker_key, error = %write, "could not mark the job due again; it comes due at its deadline");
            }
            Outcome::from(e)
        }
    }
}

/// An async result landed at `PENDING/<source bucket>/<source key>.<etag>.json`:
/// render the four outputs from it (unless they are current already: a job submitted
/// twice writes them once), then remove it and the job's marker.
pub(crate) async fn render_pending(
    transcriber: &Transcriber,
    bucket: &str,
    key: &str,
    rest: &str,
) -> Outcome {
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
    let marker_key = transcriber.marker_key(&source);
    let json_key = transcriber.output_key(&source.key, "json");
    match output_is_current(&transcriber.s3, bucket, &json_key, &source).await {
        Ok(true) => {
            if let Err(e) = delete_object(&transcriber.s3, bucket, key).await {
                return Outcome::from(e);
            }
            jobs::remove_marker(transcriber, bucket, &marker_key).await;
            return Outcome::Skipped {
                reason: format!("already rendered for ETag {etag}"),
            };
        }
        Ok(false) => {}
        Err(e) => return Outcome::from(e),
    }
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
        Ok(()) => {
            jobs::remove_marker(transcriber, bucket, &marker_key).await;
            outcome
        }
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
