//! The thumbnail blueprint against a real moto S3 and a real `algo-server`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use blueprint_core::metrics::{Metrics, names};
use blueprint_core::report::Outcome;
use blueprint_core::s3_event::encode_key;
use blueprint_core::{AlgorithmClient, ApiKey};
use blueprint_testkit::{AlgoServer, CapturedLogs, Gateway, unique, workspace_root};
use s3_thumbnail::{Settings, Thumbnailer, handle_notification};
use serde_json::{Value, json};

const KEY: &str = "simThumbTestKey42";

struct World {
    s3: aws_sdk_s3::Client,
    bucket: String,
    server: AlgoServer,
}

async fn world() -> World {
    let config = blueprint_testkit::moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let bucket = unique("thumbs");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let server = AlgoServer::start(&["--api-key", KEY, "--allow-fetch-host", "127.0.0.1"]);
    World { s3, bucket, server }
}

fn astronaut() -> Vec<u8> {
    std::fs::read(workspace_root().join("fixtures/images/astronaut.jpg"))
        .expect("fixtures/images/astronaut.jpg")
}

async fn put(world: &World, key: &str, body: Vec<u8>, content_type: &str) -> String {
    let put = world
        .s3
        .put_object()
        .bucket(&world.bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("put");
    put.e_tag().unwrap_or_default().trim_matches('"').to_owned()
}

/// An event as S3 sends it: keys form-encoded.
fn event(bucket: &str, keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                   "eventTime": "2026-11-28T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                   "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket},
                          "object": {"key": encode_key(key), "size": 1}}})
        })
        .collect();
    json!({ "Records": records })
}

async fn thumbnailer(world: &World, api: &str, extra: &[(&str, &str)]) -> Thumbnailer {
    let mut env: HashMap<String, String> = HashMap::from([
        ("ALGORITHMIA_API".into(), api.to_owned()),
        ("ALGORITHMIA_API_KEY".into(), KEY.into()),
        ("THUMBNAIL_SIZES".into(), "200x200,320x180".into()),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_env(|k| env.get(k).cloned()).expect("settings");
    let algorithms = AlgorithmClient::new(&settings.algorithmia, ApiKey::new(KEY))
        .expect("client")
        .with_retry(blueprint_core::RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
        });
    Thumbnailer {
        settings,
        algorithms,
        s3: world.s3.clone(),
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

async fn get(world: &World, key: &str) -> aws_sdk_s3::operation::get_object::GetObjectOutput {
    world
        .s3
        .get_object()
        .bucket(&world.bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e}"))
}

async fn list(world: &World) -> Vec<String> {
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

async fn faces_in(server: &AlgoServer, image: Vec<u8>) -> usize {
    let reply = reqwest::Client::new()
        .post(format!(
            "{}/v1/algo/blueprints/FaceDetection/1.0.0",
            server.url
        ))
        .header("Authorization", format!("Simple {KEY}"))
        .header("Content-Type", "application/octet-stream")
        .body(image)
        .send()
        .await
        .expect("face detection")
        .bytes()
        .await
        .expect("body");
    let reply: Value = serde_json::from_slice(&reply).expect("json");
    reply["result"]["faces"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_are_written_with_metadata_and_keep_the_face_and_a_replay_writes_nothing() {
    let world = world().await;
    let key = "uploads/my photos/astronaut café+1.jpg";
    let etag = put(&world, key, astronaut(), "image/jpeg").await;
    let thumbs = thumbnailer(&world, &world.server.url, &[]).await;

    let report = handle_notification(event(&world.bucket, &[key]), soon(), &thumbs)
        .await
        .expect("invocation succeeds");
    let Outcome::Done { outputs } = &report.records[0].outcome else {
        panic!("expected thumbnails: {report:?}");
    };
    assert_eq!(
        outputs,
        &[
            format!("thumbnails/200x200/{key}"),
            format!("thumbnails/320x180/{key}")
        ]
    );
    for (output, (w, h)) in outputs.iter().zip([(200, 200), (320, 180)]) {
        let object = get(&world, output).await;
        assert_eq!(object.content_type(), Some("image/jpeg"));
        assert_eq!(object.cache_control(), Some("public, max-age=86400"));
        let metadata = object.metadata().expect("metadata");
        assert_eq!(metadata.get("source-etag"), Some(&etag));
        assert_eq!(metadata.get("source-key"), Some(&encode_key(key)));
        let bytes = object
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec();
        let decoded = image::load_from_memory(&bytes).expect("a JPEG");
        assert_eq!((decoded.width(), decoded.height()), (w, h), "{output}");
        assert!(
            faces_in(&world.server, bytes).await >= 1,
            "{output} keeps the face"
        );
    }
    let before = list(&world).await;

    // A replay pointed at an address where nothing listens: any algorithm call
    // would fail the invocation, so success shows that none was made.
    let thumbs = thumbnailer(&world, "http://127.0.0.1:9", &[]).await;
    let report = handle_notification(event(&world.bucket, &[key]), soon(), &thumbs)
        .await
        .expect("replay succeeds without the algorithm");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Skipped { reason } if reason.contains("current")),
        "{report:?}"
    );
    assert_eq!(list(&world).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_non_images_and_test_events_are_skipped() {
    let logs = CapturedLogs::start();
    let world = world().await;
    put(&world, "notes.txt", b"hello".to_vec(), "text/plain").await;
    put(&world, "fake.jpg", b"hello".to_vec(), "text/plain").await;
    put(
        &world,
        "thumbnails/200x200/a.jpg",
        astronaut(),
        "image/jpeg",
    )
    .await;
    let thumbs = thumbnailer(&world, &world.server.url, &[]).await;

    let report = handle_notification(
        event(
            &world.bucket,
            &["notes.txt", "fake.jpg", "thumbnails/200x200/a.jpg"],
        ),
        soon(),
        &thumbs,
    )
    .await
    .expect("succeeds");
    let reasons: Vec<String> = report
        .records
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Skipped { reason } => reason.clone(),
            other => panic!("expected a skip: {other:?}"),
        })
        .collect();
    assert!(
        reasons[0].starts_with("not an image by its suffix"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1], "content type text/plain is not an image");
    assert!(reasons[2].starts_with("a thumbnail itself"), "{reasons:?}");
    let text = logs.text();
    assert!(
        text.contains("notes.txt") && text.contains("not an image by its suffix"),
        "{text}"
    );
    assert_eq!(list(&world).await.len(), 3, "nothing written");

    let test_event =
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": world.bucket});
    let report = handle_notification(test_event, soon(), &thumbs)
        .await
        .expect("ok");
    assert!(report.records.is_empty());
    let err = handle_notification(json!({"hello": 1}), soon(), &thumbs)
        .await
        .expect_err("malformed");
    assert_eq!(err.error_type, "NonRetryable.MalformedEvent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_image_is_rejected_without_failing_the_invocation() {
    let world = world().await;
    let mut truncated = astronaut();
    truncated.truncate(truncated.len() / 3);
    put(&world, "broken.jpg", truncated, "image/jpeg").await;
    put(&world, "good.jpg", astronaut(), "image/jpeg").await;
    let thumbs = thumbnailer(&world, &world.server.url, &[("THUMBNAIL_SIZES", "100x100")]).await;
    let report = handle_notification(
        event(&world.bucket, &["broken.jpg", "good.jpg"]),
        soon(),
        &thumbs,
    )
    .await
    .expect("a bad image does not fail the invocation");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Rejected { error } if error.contains("100x100")),
        "{report:?}"
    );
    assert!(
        matches!(&report.records[1].outcome, Outcome::Done { .. }),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_fails_the_invocation_after_the_other_records_are_written() {
    let world = world().await;
    for key in ["a.jpg", "throttle-me.jpg", "c.jpg"] {
        put(&world, key, astronaut(), "image/jpeg").await;
    }
    let gateway = Gateway::start(
        &world.server.url,
        Arc::new(|body: &[u8]| {
            String::from_utf8_lossy(body)
                .contains("throttle-me")
                .then(|| (axum::http::StatusCode::TOO_MANY_REQUESTS, String::new()))
        }),
    )
    .await;
    let thumbs = thumbnailer(&world, &gateway.url, &[("THUMBNAIL_SIZES", "100x100")]).await;
    // Measured as `main` measures each invocation: the line is written even though
    // the invocation fails.
    let (metrics, emitted) = Metrics::in_memory("s3-thumbnail", "thumbs-fn");
    let err = metrics
        .measure(handle_notification(
            event(&world.bucket, &["a.jpg", "throttle-me.jpg", "c.jpg"]),
            soon(),
            &thumbs,
        ))
        .await
        .expect_err("the invocation fails for Lambda to retry");
    let lines = emitted.documents();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["FunctionName"], "thumbs-fn");
    assert_eq!(lines[0]["Blueprint"], "s3-thumbnail");
    // One size, one call per record; the throttled call was tried twice.
    for (name, expected) in [
        (names::RECORDS_DONE, 2),
        (names::RECORDS_SKIPPED, 0),
        (names::RECORDS_REJECTED, 0),
        (names::RECORDS_FAILED, 1),
        (names::ALGORITHM_CALLS, 3),
        (names::ALGORITHM_CALL_ERRORS, 1),
        (names::ALGORITHM_CALL_RETRIES, 1),
    ] {
        assert_eq!(
            lines[0][name].as_u64(),
            Some(expected),
            "{name}: {}",
            lines[0]
        );
    }
    assert_eq!(err.error_type, "Retryable.RecordsFailed");
    assert!(
        err.error_message.starts_with("1 of 3 records failed"),
        "{}",
        err.error_message
    );
    assert!(
        err.error_message.contains("throttle-me.jpg") && err.error_message.contains("429"),
        "{}",
        err.error_message
    );
    let keys = list(&world).await;
    assert!(
        keys.contains(&"thumbnails/100x100/a.jpg".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"thumbnails/100x100/c.jpg".to_owned()),
        "{keys:?}"
    );
    assert!(
        !keys
            .iter()
            .any(|k| k.starts_with("thumbnails/") && k.contains("throttle-me"))
    );

    // The algorithm server down: every record fails, retryably.
    let down = thumbnailer(
        &world,
        "http://127.0.0.1:9",
        &[("THUMBNAIL_SIZES", "64x64")],
    )
    .await;
    let err = handle_notification(event(&world.bucket, &["a.jpg"]), soon(), &down)
        .await
        .expect_err("server down");
    assert_eq!(err.error_type, "Retryable.RecordsFailed");
    assert!(
        err.error_message
            .contains("could not reach the algorithm API"),
        "{}",
        err.error_message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_record_event_runs_with_bounded_concurrency() {
    let world = world().await;
    let keys: Vec<String> = (0..20).map(|i| format!("batch/photo {i}.jpg")).collect();
    for key in &keys {
        put(&world, key, astronaut(), "image/jpeg").await;
    }
    let gateway = Gateway::start(&world.server.url, Arc::new(|_: &[u8]| None)).await;
    let thumbs = thumbnailer(
        &world,
        &gateway.url,
        &[
            ("THUMBNAIL_SIZES", "64x64"),
            ("MAX_CONCURRENT_RECORDS", "4"),
        ],
    )
    .await;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let report = handle_notification(event(&world.bucket, &refs), soon(), &thumbs)
        .await
        .expect("succeeds");
    assert_eq!(report.records.len(), 20);
    assert!(
        report
            .records
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Done { .. }))
    );
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 20);
    let most = gateway.counters.max_in_flight.load(Ordering::SeqCst);
    assert!((1..=4).contains(&most), "{most} calls in flight");
}

/// Outputs S3 would refuse for good (moto accepts them) are rejected before any call:
/// a thumbnail key over 1,024 bytes, and metadata over 2 KB (a long non-ASCII source
/// key, stored percent-encoded). The invocation succeeds; nothing is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_over_s3s_limits_are_rejected_before_any_call() {
    let world = world().await;
    let long = format!("uploads/{}.jpg", "a".repeat(1000));
    let unicode = format!("uploads/{}.jpg", "写".repeat(300));
    assert!(
        long.len() <= 1024 && unicode.len() <= 1024,
        "valid source keys"
    );
    put(&world, &long, astronaut(), "image/jpeg").await;
    put(&world, &unicode, astronaut(), "image/jpeg").await;
    let gateway = Gateway::start(&world.server.url, Arc::new(|_: &[u8]| None)).await;
    let thumbs = thumbnailer(&world, &gateway.url, &[("THUMBNAIL_SIZES", "100x100")]).await;
    let report = handle_notification(event(&world.bucket, &[&long, &unicode]), soon(), &thumbs)
        .await
        .expect("rejections do not fail the invocation");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Rejected { error }
            if error.contains("100x100: output key") && error.contains("over S3's 1024-byte key limit")),
        "{report:?}"
    );
    assert!(
        matches!(&report.records[1].outcome, Outcome::Rejected { error }
            if error.contains("over S3's 2048-byte limit on user metadata")),
        "{report:?}"
    );
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 0, "no call");
    assert!(
        !list(&world)
            .await
            .iter()
            .any(|k| k.starts_with("thumbnails/")),
        "nothing written"
    );
}
