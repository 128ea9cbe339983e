//! Async jobs that cannot vanish, and sync or async by the media's duration, against
//! moto (S3, SQS) and a real `algo-server` behind a fault-injecting gateway: a job
//! whose result is dropped is resubmitted by the sweep and written once; a job that
//! never returns ends in the failure queue; a small but long recording goes async; a
//! sync call that times out falls back to async and completes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use axum::http::StatusCode;
use blueprint_core::lambda::SdkConfig;
use blueprint_core::report::{Outcome, Report};
use blueprint_core::s3_event::encode_key;
use blueprint_core::{AlgorithmClient, ApiKey};
use blueprint_testkit::{AlgoServer, FailRule, Gateway, unique, word_error_rate, workspace_root};
use s3_transcribe::media::{S3Ranges, estimate};
use s3_transcribe::{
    JobMarker, Settings, SweepEvent, Transcriber, Transcript, handle_notification, sweep,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    let path = workspace_root().join("fixtures/generated").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make fixtures` (make test does)",
        path.display()
    );
    path
}

struct World {
    config: SdkConfig,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    bucket: String,
    queue: String,
}

/// A versioned bucket (to count how often an output was written) and a queue.
async fn world() -> World {
    let config = blueprint_testkit::moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bucket = unique("jobs");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let queue = sqs
        .create_queue()
        .queue_name(unique("failures"))
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("queue URL")
        .to_owned();
    World {
        config,
        s3,
        sqs,
        bucket,
        queue,
    }
}

fn transcriber(world: &World, api: &str, mode: &str) -> Transcriber {
    let env: HashMap<&str, String> = HashMap::from([
        ("ALGORITHMIA_API", api.to_owned()),
        ("ALGORITHMIA_API_KEY", "simLocal".to_owned()),
        ("TRANSCRIBE_MODE", mode.to_owned()),
        ("FAILURE_QUEUE_URL", world.queue.clone()),
    ]);
    let settings = Settings::from_env(|k| env.get(k).cloned()).expect("settings");
    let algorithms =
        AlgorithmClient::new(&settings.algorithmia, ApiKey::new("simLocal")).expect("client");
    Transcriber::new(settings, algorithms, &world.config)
}

async fn upload(world: &World, key: &str, body: Vec<u8>) {
    world
        .s3
        .put_object()
        .bucket(&world.bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("upload");
}

fn event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{"eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": encode_key(key), "size": 1}}}]})
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(300)
}

async fn keys(world: &World) -> Vec<String> {
    world
        .s3
        .list_objects_v2()
        .bucket(&world.bucket)
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

async fn etag(world: &World, key: &str) -> String {
    world
        .s3
        .head_object()
        .bucket(&world.bucket)
        .key(key)
        .send()
        .await
        .expect("head")
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

fn marker_key(world: &World, key: &str, etag: &str) -> String {
    format!("transcripts/.jobs/{}/{key}.{etag}.json", world.bucket)
}

async fn marker(world: &World, key: &str) -> Option<JobMarker> {
    let object = world
        .s3
        .get_object()
        .bucket(&world.bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = object.body.collect().await.expect("body").into_bytes();
    Some(serde_json::from_slice(&bytes).expect("a marker"))
}

async fn wait_for(world: &World, key: &str) {
    let start = Instant::now();
    while !keys(world).await.iter().any(|k| k == key) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{key}: no async result after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn sweep_at(world: &World, transcriber: &Transcriber, later: Duration) -> Report {
    let event = SweepEvent {
        bucket: world.bucket.clone(),
    };
    sweep(transcriber, event, SystemTime::now() + later, soon())
        .await
        .expect("the sweep succeeds")
}

/// A gateway that answers `output=void` calls itself with an accepted job that never
/// runs, `drops` times, then forwards to `upstream`.
async fn dropping_gateway(upstream: &str, drops: u32) -> Gateway {
    let dropped = Arc::new(AtomicU32::new(0));
    let rule: FailRule = Arc::new(move |body: &[u8]| {
        let is_async = String::from_utf8_lossy(body).contains("output_url");
        (is_async && dropped.fetch_add(1, Ordering::SeqCst) < drops).then(|| {
            (
                StatusCode::OK,
                json!({"async": "void", "request_id": "dropped"}).to_string(),
            )
        })
    });
    Gateway::start(upstream, rule).await
}

fn hour(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_job_is_resubmitted_by_the_sweep_and_written_once() {
    let world = world().await;
    let server = AlgoServer::start(&["--allow-fetch-host", "127.0.0.1"]);
    let gateway = dropping_gateway(&server.url, 1).await;
    let transcriber = transcriber(&world, &gateway.url, "async");
    let key = "talks/dropped job.mp4";
    upload(
        &world,
        key,
        std::fs::read(fixture("speech.mp4")).expect("fixture"),
    )
    .await;
    let etag = etag(&world, key).await;
    let marker_key = marker_key(&world, key, &etag);

    let report = handle_notification(event(&world.bucket, key), soon(), &transcriber)
        .await
        .expect("submitted");
    let Outcome::Done { outputs } = &report.records[0].outcome else {
        panic!("{report:?}");
    };
    let pending = outputs[0].clone();
    let first = marker(&world, &marker_key)
        .await
        .expect("the job is tracked");
    assert_eq!((first.attempt, first.source.key.as_str()), (1, key));
    assert!(first.deadline > first.started_at + 300, "{first:?}");

    // A replayed upload while the job is in flight submits nothing.
    let replay = handle_notification(event(&world.bucket, key), soon(), &transcriber)
        .await
        .expect("replay");
    assert!(
        matches!(&replay.records[0].outcome, Outcome::Skipped { reason } if reason.contains("in flight")),
        "{replay:?}"
    );
    // Within its deadline the sweep leaves the job alone.
    assert!(
        sweep_at(&world, &transcriber, Duration::ZERO)
            .await
            .records
            .is_empty()
    );
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 1);

    // The gateway swallowed the job: no result ever comes. Past the deadline the
    // sweep resubmits it, and this time the server runs it.
    let report = sweep_at(&world, &transcriber, hour(2)).await;
    assert!(
        matches!(&report.records[..], [r] if r.outcome == Outcome::Done { outputs: vec![pending.clone()] }),
        "{report:?}"
    );
    let second = marker(&world, &marker_key).await.expect("still tracked");
    assert_eq!((second.attempt, second.started_at), (2, first.started_at));
    wait_for(&world, &pending).await;
    let report = handle_notification(event(&world.bucket, &pending), soon(), &transcriber)
        .await
        .expect("rendered");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Done { outputs } if outputs.len() == 4),
        "{report:?}"
    );
    let left = keys(&world).await;
    assert!(
        !left.contains(&marker_key),
        "the marker is removed: {left:?}"
    );
    assert!(!left.contains(&pending), "the result is removed: {left:?}");
    assert!(
        sweep_at(&world, &transcriber, hour(4))
            .await
            .records
            .is_empty()
    );

    // The result's event again (S3 delivers at least once): nothing is rewritten.
    let report = handle_notification(event(&world.bucket, &pending), soon(), &transcriber)
        .await
        .expect("replayed result");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Skipped { .. }),
        "{report:?}"
    );
    let json_key = format!("transcripts/{key}.json");
    let versions = world
        .s3
        .list_object_versions()
        .bucket(&world.bucket)
        .prefix(&json_key)
        .send()
        .await
        .expect("versions");
    assert_eq!(
        versions.versions().len(),
        1,
        "the transcript is written once"
    );
    let object = world
        .s3
        .get_object()
        .bucket(&world.bucket)
        .key(&json_key)
        .send()
        .await
        .expect("transcript");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    let transcript: Transcript = serde_json::from_slice(&bytes).expect("a transcript");
    let reference = std::fs::read_to_string(fixture("speech.txt")).expect("reference");
    let wer = word_error_rate(&reference, &transcript.text);
    assert!(wer <= 0.3, "WER {wer:.2}: {:?}", transcript.text);
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_never_returns_ends_in_the_failure_queue_with_its_reason() {
    let world = world().await;
    // Every submission is accepted and dropped: nothing is ever forwarded.
    let gateway = dropping_gateway("http://127.0.0.1:9", u32::MAX).await;
    let transcriber = transcriber(&world, &gateway.url, "async");
    let key = "talks/lost forever.mp4";
    upload(
        &world,
        key,
        std::fs::read(fixture("speech.mp4")).expect("fixture"),
    )
    .await;
    let marker_key = marker_key(&world, key, &etag(&world, key).await);

    let report = handle_notification(event(&world.bucket, key), soon(), &transcriber)
        .await
        .expect("submitted");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Done { .. }),
        "{report:?}"
    );
    for (later, attempt) in [(1, 2), (2, 3)] {
        let report = sweep_at(&world, &transcriber, hour(later)).await;
        assert!(
            matches!(&report.records[..], [r] if matches!(r.outcome, Outcome::Done { .. })),
            "{report:?}"
        );
        let tracked = marker(&world, &marker_key).await.expect("tracked");
        assert_eq!(tracked.attempt, attempt);
    }
    // MAX_ASYNC_ATTEMPTS (3) submissions made: the next sweep gives the job up.
    let report = sweep_at(&world, &transcriber, hour(3)).await;
    assert!(
        matches!(&report.records[..], [r] if matches!(&r.outcome,
            Outcome::Rejected { error } if error.contains("gave up after 3 attempts"))),
        "{report:?}"
    );
    assert!(
        !keys(&world).await.contains(&marker_key),
        "the marker is removed"
    );
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 3);

    let received = world
        .sqs
        .receive_message()
        .queue_url(&world.queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body: Value = serde_json::from_str(messages[0].body().expect("body")).expect("JSON");
    assert_eq!(body["source"]["bucket"], world.bucket.as_str());
    assert_eq!(body["source"]["key"], key);
    assert_eq!(body["attempts"], 3);
    let reason = body["reason"].as_str().expect("reason");
    assert!(reason.contains("no result within the deadline"), "{reason}");
    assert!(
        sweep_at(&world, &transcriber, hour(4))
            .await
            .records
            .is_empty()
    );
}

/// 20 minutes at 8 kbit/s: about 1.2 MB, which file size alone took for 12 s of
/// speech (sync); its `mvhd` says 1,200 s, about 200 s of work: async.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_long_low_bitrate_recording_goes_async() {
    let world = world().await;
    let dir = std::env::temp_dir().join(unique("lowrate"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("long.m4a");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:sample_rate=8000",
        ])
        .args(["-t", "1200", "-ac", "1", "-c:a", "aac", "-b:a", "8k", "-y"])
        .arg(&file)
        .status()
        .expect("ffmpeg (installed by make fixtures)");
    assert!(made.success());
    let body = std::fs::read(&file).expect("made");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(body.len() < 2_000_000, "{} bytes", body.len());
    let key = "talks/long quiet call.m4a";
    upload(&world, key, body).await;

    let gateway = dropping_gateway("http://127.0.0.1:9", u32::MAX).await;
    let transcriber = transcriber(&world, &gateway.url, "auto");
    let report = handle_notification(event(&world.bucket, key), soon(), &transcriber)
        .await
        .expect("submitted");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Done { outputs }
            if outputs[0].starts_with("transcripts/.pending/")),
        "{report:?}"
    );
    let tracked = marker(&world, &marker_key(&world, key, &etag(&world, key).await))
        .await
        .expect("tracked");
    assert!((tracked.media_seconds - 1200.0).abs() < 1.0, "{tracked:?}");
}

/// The fixtures' durations as their headers state them (ffprobe's figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_durations_match_ffprobe() {
    let world = world().await;
    for (name, seconds) in [
        ("speech.mp4", 7.52),
        ("long.mp4", 64.8),
        ("long.wav", 64.789),
        ("speech.mp3", 7.5755),
    ] {
        let body = std::fs::read(fixture(name)).expect("fixture");
        let size = body.len() as u64;
        upload(&world, name, body).await;
        let ranges = S3Ranges {
            s3: &world.s3,
            bucket: &world.bucket,
            key: name,
        };
        let found = estimate(&ranges, size, 16_000).await;
        assert!(
            (found.seconds - seconds).abs() < 0.1,
            "{name}: {found:?}, ffprobe says {seconds}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_call_that_times_out_falls_back_to_async_and_completes() {
    let world = world().await;
    let server = AlgoServer::start(&["--allow-fetch-host", "127.0.0.1"]);
    // Sync calls (no output_url) time out server-side; async ones reach the server.
    let rule: FailRule = Arc::new(|body: &[u8]| {
        (!String::from_utf8_lossy(body).contains("output_url")).then(|| {
            (
                StatusCode::OK,
                json!({"error": {"message": "the call ran past its 10 s timeout", "error_type": "TimeoutError"}})
                    .to_string(),
            )
        })
    });
    let gateway = Gateway::start(&server.url, rule).await;
    let transcriber = transcriber(&world, &gateway.url, "auto");
    let key = "talks/slow server.mp4";
    upload(
        &world,
        key,
        std::fs::read(fixture("speech.mp4")).expect("fixture"),
    )
    .await;

    let report = handle_notification(event(&world.bucket, key), soon(), &transcriber)
        .await
        .expect("fell back");
    let Outcome::Done { outputs } = &report.records[0].outcome else {
        panic!("{report:?}");
    };
    let pending = outputs[0].clone();
    assert!(pending.starts_with("transcripts/.pending/"), "{pending}");
    assert_eq!(
        gateway.counters.failed.load(Ordering::SeqCst),
        1,
        "one sync call"
    );
    wait_for(&world, &pending).await;
    let report = handle_notification(event(&world.bucket, &pending), soon(), &transcriber)
        .await
        .expect("rendered");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Done { outputs } if outputs.len() == 4),
        "{report:?}"
    );
    let left = keys(&world).await;
    assert!(left.contains(&format!("transcripts/{key}.srt")), "{left:?}");
    assert!(
        !left.iter().any(|k| k.starts_with("transcripts/.jobs/")),
        "{left:?}"
    );
}
