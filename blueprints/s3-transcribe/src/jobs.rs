//! Async jobs that cannot vanish. Every `output=void` submission writes a marker at
//! `OUTPUT_PREFIX.jobs/<bucket>/<key>.<etag>.json` (no trigger matches it) holding the
//! source, the first start, this attempt's deadline and the attempt count; rendering
//! the result removes it. A scheduled sweep (`{"sweep": "async-jobs", "bucket": ...}`)
//! reads the markers past their deadline: it renders a result that landed unnoticed,
//! resubmits the job up to `MAX_ASYNC_ATTEMPTS` submissions in all, then sends it to
//! `FAILURE_QUEUE_URL` with the reason and removes the marker.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::error::DisplayErrorContext;
use blueprint_core::lambda::{Diagnostic, diagnostic};
use blueprint_core::report::{Outcome, Report};
use blueprint_core::s3_objects::{
    SourceObject, StorageError, delete_object, get_bytes, head_source, output_is_current,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::handler::{Attempt, Transcriber, render_pending, start_async};
use crate::settings::{FAILURE_QUEUE_URL, MAX_ASYNC_ATTEMPTS, OUTPUT_BUCKET};

/// The `sweep` value of the scheduled event.
pub const SWEEP_ASYNC_JOBS: &str = "async-jobs";
/// After the algorithm's timeout, how long a result may take to land and be rendered
/// (the server's queue, the PUT, the S3 event and its retries) before the sweep
/// resubmits the job.
pub const RESULT_GRACE: Duration = Duration::from_secs(15 * 60);
/// The sweep stops taking markers with less than this left in the invocation.
const SWEEP_STEP_TIME: Duration = Duration::from_secs(20);
/// A marker is a few hundred bytes; anything much larger is not one.
const MAX_MARKER_BYTES: usize = 64 * 1024;

/// Seconds since the Unix epoch.
pub fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The scheduled event: which bucket's markers to sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepEvent {
    pub bucket: String,
}

impl SweepEvent {
    /// `Some` for a payload with a `sweep` field (an error if it is not a sweep this
    /// function knows, or names no bucket and `OUTPUT_BUCKET` is unset); `None` for
    /// anything else (an S3 notification).
    pub fn recognise(
        payload: &Value,
        output_bucket: Option<&str>,
    ) -> Option<Result<SweepEvent, Diagnostic>> {
        let kind = payload.get("sweep")?;
        if kind.as_str() != Some(SWEEP_ASYNC_JOBS) {
            return Some(Err(diagnostic(
                false,
                "MalformedEvent",
                &format!(
                    "unknown sweep {kind}: the schedule's Input must be {{\"sweep\": \"{SWEEP_ASYNC_JOBS}\", \"bucket\": ...}}"
                ),
            )));
        }
        let bucket = payload
            .get("bucket")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|b| !b.is_empty())
            .or_else(|| output_bucket.map(str::to_owned));
        Some(match bucket {
            Some(bucket) => Ok(SweepEvent { bucket }),
            None => Err(diagnostic(
                false,
                "MalformedEvent",
                &format!(
                    "the sweep event names no bucket and {OUTPUT_BUCKET} is not set: add \"bucket\" to the schedule's Input"
                ),
            )),
        })
    }
}

/// The source version a job transcribes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSource {
    pub bucket: String,
    pub key: String,
    pub etag: String,
}

/// What the marker object holds (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMarker {
    pub source: JobSource,
    /// The media's duration as estimated at the first submission (for the timeout).
    pub media_seconds: f64,
    /// Unix seconds of the first submission.
    pub started_at: u64,
    /// Unix seconds of this submission.
    pub submitted_at: u64,
    /// Unix seconds after which the sweep takes the job up: this submission's
    /// algorithm timeout plus [`RESULT_GRACE`], or `ASYNC_JOB_DEADLINE` seconds.
    pub deadline: u64,
    /// Submissions made, this one included.
    pub attempt: u32,
    /// Why the last submission failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl JobMarker {
    pub(crate) fn new(
        source: &SourceObject,
        attempt: Attempt,
        now: SystemTime,
        wait: Duration,
    ) -> Self {
        let submitted_at = unix(now);
        Self {
            source: JobSource {
                bucket: source.bucket.clone(),
                key: source.key.clone(),
                etag: source.etag.clone(),
            },
            media_seconds: attempt.media_seconds,
            started_at: attempt.started_at,
            submitted_at,
            deadline: submitted_at + wait.as_secs(),
            attempt: attempt.number,
            last_error: None,
        }
    }
}

pub(crate) async fn write_marker(
    transcriber: &Transcriber,
    bucket: &str,
    key: &str,
    marker: &JobMarker,
) -> Result<(), StorageError> {
    let body = serde_json::to_vec(marker).unwrap_or_default();
    transcriber
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| StorageError {
            operation: "PutObject",
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            detail: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            not_found: false,
            permanent: false,
        })
}

/// Removes a marker; a failure is logged only (the sweep finds the job rendered and
/// removes the marker then).
pub(crate) async fn remove_marker(transcriber: &Transcriber, bucket: &str, key: &str) {
    if let Err(e) = delete_object(&transcriber.s3, bucket, key).await {
        tracing::warn!(%key, error = %e, "could not remove the async job's marker; the sweep will");
    }
}

/// Every marker key in `bucket`.
async fn marker_keys(transcriber: &Transcriber, bucket: &str) -> Result<Vec<String>, String> {
    let prefix = transcriber.settings.jobs_prefix();
    let mut keys = Vec::new();
    let mut pages = transcriber
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            format!(
                "S3 ListObjectsV2 s3://{bucket}/{prefix} failed: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    Ok(keys)
}

/// Takes up every job in `bucket` past its deadline at `now`. One record per job
/// taken up; jobs still within their deadline are only counted.
pub async fn sweep(
    transcriber: &Transcriber,
    event: SweepEvent,
    now: SystemTime,
    deadline: Instant,
) -> Result<Report, Diagnostic> {
    let bucket = event.bucket.as_str();
    let keys = marker_keys(transcriber, bucket)
        .await
        .map_err(|e| diagnostic(true, "SweepFailed", &e))?;
    let mut report = Report::default();
    let mut waiting = 0usize;
    for (done, key) in keys.iter().enumerate() {
        if deadline.saturating_duration_since(Instant::now()) < SWEEP_STEP_TIME {
            tracing::warn!(
                left = keys.len() - done,
                "the sweep ran out of time; the next one takes up the rest"
            );
            break;
        }
        let label = format!("s3://{bucket}/{key}");
        let body = match get_bytes(&transcriber.s3, bucket, key, MAX_MARKER_BYTES).await {
            Ok(body) => body,
            Err(e) if e.not_found => continue, // rendered since the listing
            Err(e) => {
                report.push(label, Outcome::from(e));
                continue;
            }
        };
        let marker: JobMarker = match serde_json::from_slice(&body) {
            Ok(marker) => marker,
            Err(e) => {
                // Not written by this function: left for a person to look at.
                report.push(
                    label,
                    Outcome::Rejected {
                        error: format!("not an async job marker ({e}); left in place"),
                    },
                );
                continue;
            }
        };
        if marker.deadline > unix(now) {
            waiting += 1;
            continue;
        }
        let outcome = take_up(transcriber, bucket, key, marker, now, deadline).await;
        report.push(label, outcome);
    }
    tracing::info!(taken_up = report.records.len(), waiting, "swept async jobs");
    report.into_result()
}

/// One job past its deadline: gone or superseded, rendered, resubmitted, or given up.
async fn take_up(
    transcriber: &Transcriber,
    bucket: &str,
    marker_key: &str,
    marker: JobMarker,
    now: SystemTime,
    deadline: Instant,
) -> Outcome {
    let settings = &transcriber.settings;
    let dropped = |reason: String| async move {
        remove_marker(transcriber, bucket, marker_key).await;
        Outcome::Skipped { reason }
    };
    let source = match head_source(&transcriber.s3, &marker.source.bucket, &marker.source.key).await
    {
        Ok(source) => source,
        Err(e) if e.not_found => {
            return dropped("the source was deleted: job dropped".into()).await;
        }
        Err(e) => return Outcome::from(e),
    };
    if source.etag != marker.source.etag {
        return dropped(format!(
            "the source was replaced (ETag {} now): its own upload starts its job",
            source.etag
        ))
        .await;
    }
    let json_key = transcriber.output_key(&source.key, "json");
    match output_is_current(&transcriber.s3, bucket, &json_key, &source).await {
        Ok(true) => return dropped(format!("already rendered for ETag {}", source.etag)).await,
        Ok(false) => {}
        Err(e) => return Outcome::from(e),
    }
    let mut reason = marker.last_error.clone().unwrap_or_else(|| {
        format!(
            "no result within the deadline (attempt {} of {MAX_ASYNC_ATTEMPTS}={})",
            marker.attempt, settings.max_async_attempts
        )
    });
    // A result that landed without its S3 event being handled: render it now.
    let pending = transcriber.pending_key(&source);
    match head_source(&transcriber.s3, bucket, &pending).await {
        Ok(_) => {
            let rest = pending
                .strip_prefix(&settings.pending_prefix())
                .unwrap_or_default();
            match render_pending(transcriber, bucket, &pending, rest).await {
                Outcome::Failed { error } => {
                    reason = format!("its result could not be rendered: {error}");
                    // The next submission's result takes its place.
                    if let Err(e) = delete_object(&transcriber.s3, bucket, &pending).await {
                        tracing::warn!(key = %pending, error = %e, "could not remove a failed result");
                    }
                }
                rendered => return rendered,
            }
        }
        Err(e) if e.not_found => {}
        Err(e) => return Outcome::from(e),
    }
    if marker.attempt >= settings.max_async_attempts {
        return give_up(transcriber, bucket, marker_key, &marker, &reason).await;
    }
    tracing::warn!(key = %source.key, attempt = marker.attempt + 1, %reason, "resubmitting an async job");
    let next = Attempt {
        number: marker.attempt + 1,
        started_at: marker.started_at,
        media_seconds: marker.media_seconds,
    };
    start_async(transcriber, &source, bucket, next, now, deadline).await
}

/// Sends the job to the failure queue with its reason, then removes the marker.
async fn give_up(
    transcriber: &Transcriber,
    bucket: &str,
    marker_key: &str,
    marker: &JobMarker,
    reason: &str,
) -> Outcome {
    let Some(queue) = &transcriber.settings.failure_queue_url else {
        return Outcome::Failed {
            error: format!(
                "giving up after {} attempts ({reason}), but {FAILURE_QUEUE_URL} is not set: the marker stays until it is",
                marker.attempt
            ),
        };
    };
    let message = json!({
        "reason": format!("async transcription gave up after {} attempts: {reason}", marker.attempt),
        "source": marker.source,
        "attempts": marker.attempt,
        "started_at": marker.started_at,
        "marker": {"bucket": bucket, "key": marker_key},
    });
    let sent = transcriber
        .sqs
        .send_message()
        .queue_url(queue)
        .message_body(message.to_string())
        .send()
        .await;
    if let Err(e) = sent {
        return Outcome::Failed {
            error: format!(
                "could not send the given-up job to {FAILURE_QUEUE_URL}: {}",
                DisplayErrorContext(&e)
            ),
        };
    }
    if let Err(e) = delete_object(&transcriber.s3, bucket, marker_key).await {
        // Sent, but the marker stays: the next sweep sends it again (at least once).
        return Outcome::from(e);
    }
    Outcome::Rejected {
        error: format!(
            "gave up after {} attempts ({reason}); sent to {FAILURE_QUEUE_URL}",
            marker.attempt
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_event_is_recognised_and_anything_else_is_not() {
        let event = json!({"sweep": "async-jobs", "bucket": "media-b"});
        assert_eq!(
            SweepEvent::recognise(&event, None).map(|r| r.map_err(|d| d.error_message)),
            Some(Ok(SweepEvent {
                bucket: "media-b".into()
            }))
        );
        assert!(SweepEvent::recognise(&json!({"Records": []}), None).is_none());
        let unknown = SweepEvent::recognise(&json!({"sweep": "everything"}), None)
            .expect("a sweep")
            .expect_err("unknown");
        assert_eq!(unknown.error_type, "NonRetryable.MalformedEvent");
    }

    #[test]
    fn a_marker_round_trips_and_its_deadline_is_timeout_plus_grace() {
        let source = SourceObject {
            bucket: "b".into(),
            key: "media/talk é.mp4".into(),
            etag: "e1".into(),
            content_type: None,
            size: 10,
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let attempt = Attempt {
            number: 2,
            started_at: 999_000,
            media_seconds: 1200.0,
        };
        let marker = JobMarker::new(
            &source,
            attempt,
            now,
            Duration::from_secs(660) + RESULT_GRACE,
        );
        assert_eq!(marker.deadline, 1_000_000 + 660 + 900);
        assert_eq!(marker.attempt, 2);
        let text = serde_json::to_string(&marker).expect("JSON");
        assert_eq!(
            serde_json::from_str::<JobMarker>(&text).expect("back"),
            marker
        );
    }
}
