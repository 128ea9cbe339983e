//! The transcription blueprint against a real moto S3 and a real `algo-server`
//! running Whisper (`make models fixtures` provide the model and the clips).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use blueprint_core::report::Outcome;
use blueprint_core::s3_event::encode_key;
use blueprint_core::{AlgorithmClient, ApiKey};
use blueprint_testkit::{AlgoServer, CapturedLogs, unique, word_error_rate, workspace_root};
use s3_transcribe::{Settings, Transcriber, Transcript, handle_notification};
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
    config: blueprint_core::lambda::SdkConfig,
    s3: aws_sdk_s3::Client,
    bucket: String,
    server: AlgoServer,
}

async fn world() -> World {
    let config = blueprint_testkit::moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let bucket = unique("media");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let server = AlgoServer::start(&["--allow-fetch-host", "127.0.0.1"]);
    World {
        config,
        s3,
        bucket,
        server,
    }
}

async fn upload(world: &World, key: &str, file: &str, content_type: &str) {
    let body = std::fs::read(fixture(file)).expect("fixture");
    world
        .s3
        .put_object()
        .bucket(&world.bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("upload");
}

fn transcriber(world: &World, mode: &str) -> Transcriber {
    let env: HashMap<&str, String> = HashMap::from([
        ("ALGORITHMIA_API", world.server.url.clone()),
        ("ALGORITHMIA_API_KEY", "simLocal".to_owned()),
        ("TRANSCRIBE_MODE", mode.to_owned()),
    ]);
    let settings = Settings::from_env(|k| env.get(k).cloned()).expect("settings");
    let algorithms =
        AlgorithmClient::new(&settings.algorithmia, ApiKey::new("simLocal")).expect("client");
    Transcriber::new(settings, algorithms, &world.config)
}

fn event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{"eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": encode_key(key), "size": 1}}}]})
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(300)
}

async fn text_of(world: &World, key: &str) -> (String, Option<String>) {
    let object = world
        .s3
        .get_object()
        .bucket(&world.bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e}"));
    let content_type = object.content_type().map(str::to_owned);
    let bytes = object.body.collect().await.expect("body").into_bytes();
    (
        String::from_utf8(bytes.to_vec()).expect("UTF-8"),
        content_type,
    )
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

/// Cue start times of a caption file, as ffmpeg reads it (converted to SRT).
fn cue_starts_by_ffmpeg(text: &str, extension: &str) -> Vec<f64> {
    let dir = std::env::temp_dir().join(unique("captions"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join(format!("in.{extension}"));
    std::fs::write(&input, text).expect("write captions");
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&input)
        .args(["-f", "srt", "-"])
        .output()
        .expect("ffmpeg (installed by make fixtures)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "ffmpeg rejected the {extension}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once(" --> "))
        .map(|(start, _)| {
            let (hms, ms) = start.trim().split_once(',').expect("SRT time");
            let parts: Vec<f64> = hms.split(':').map(|p| p.parse().expect("number")).collect();
            parts[0] * 3600.0 + parts[1] * 60.0 + parts[2] + ms.parse::<f64>().expect("ms") / 1000.0
        })
        .collect()
}

async fn check_outputs(world: &World, key: &str) -> Transcript {
    let reference = std::fs::read_to_string(fixture("speech.txt")).expect("reference");
    let (json_text, json_type) = text_of(world, &format!("transcripts/{key}.json")).await;
    assert_eq!(json_type.as_deref(), Some("application/json"));
    let transcript: Transcript = serde_json::from_str(&json_text).expect("transcript JSON");
    let wer = word_error_rate(&reference, &transcript.text);
    assert!(
        wer <= 0.3,
        "WER {wer:.2}: {:?} vs {reference:?}",
        transcript.text
    );
    let (txt, _) = text_of(world, &format!("transcripts/{key}.txt")).await;
    assert_eq!(txt.trim(), transcript.text.trim());
    let cues: Vec<f64> = transcript
        .segments
        .iter()
        .filter(|s| !s.text.trim().is_empty() && s.end > s.start)
        .map(|s| s.start)
        .collect();
    assert!(!cues.is_empty());
    for (extension, content_type) in [
        ("vtt", "text/vtt; charset=utf-8"),
        ("srt", "application/x-subrip; charset=utf-8"),
    ] {
        let (captions, stored_type) =
            text_of(world, &format!("transcripts/{key}.{extension}")).await;
        assert_eq!(stored_type.as_deref(), Some(content_type));
        let parsed = cue_starts_by_ffmpeg(&captions, extension);
        assert_eq!(parsed.len(), cues.len(), "{extension} cues");
        for (a, b) in parsed.iter().zip(&cues) {
            assert!((a - b).abs() < 0.002, "{extension}: {a} vs {b}");
        }
    }
    transcript
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_video_gets_transcript_and_captions_and_a_replay_writes_nothing() {
    let world = world().await;
    let key = "videos/team meeting 1.mp4";
    upload(&world, key, "speech.mp4", "video/mp4").await;
    let transcriber = transcriber(&world, "sync");
    let report = handle_notification(event(&world.bucket, key), soon(), &transcriber)
        .await
        .expect("succeeds");
    let Outcome::Done { outputs } = &report.records[0].outcome else {
        panic!("{report:?}");
    };
    assert_eq!(outputs.len(), 4);
    check_outputs(&world, key).await;

    let before = keys(&world).await;
    let report = handle_notification(event(&world.bucket, key), soon(), &transcriber)
        .await
        .expect("replay");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Skipped { reason } if reason.contains("current")),
        "{report:?}"
    );
    assert_eq!(keys(&world).await, before);
    // The function's own outputs are ignored.
    let report = handle_notification(
        event(&world.bucket, &format!("transcripts/{key}.json")),
        soon(),
        &transcriber,
    )
    .await
    .expect("own output");
    assert!(matches!(
        &report.records[0].outcome,
        Outcome::Skipped { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_path_produces_the_same_files() {
    let world = world().await;
    let key = "videos/async talk.mp4";
    upload(&world, key, "speech.mp4", "video/mp4").await;
    let transcriber = transcriber(&world, "async");
    let report = handle_notification(event(&world.bucket, key), soon(), &transcriber)
        .await
        .expect("queued");
    let Outcome::Done { outputs } = &report.records[0].outcome else {
        panic!("{report:?}");
    };
    let pending = outputs[0].clone();
    assert!(pending.starts_with("transcripts/.pending/"), "{pending}");

    // The server PUTs the result to the presigned URL; its arrival is the next event.
    let start = Instant::now();
    while !keys(&world).await.contains(&pending) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no async result after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let report = handle_notification(event(&world.bucket, &pending), soon(), &transcriber)
        .await
        .expect("rendered");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Done { outputs } if outputs.len() == 4),
        "{report:?}"
    );
    check_outputs(&world, key).await;
    let left = keys(&world).await;
    assert!(!left.contains(&pending), "the pending result is removed");
    assert!(
        !left.iter().any(|k| k.starts_with("transcripts/.jobs/")),
        "the job's marker is removed: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_without_audio_is_rejected_with_no_output() {
    let logs = CapturedLogs::start();
    let world = world().await;
    upload(&world, "videos/silent film.mp4", "noaudio.mp4", "video/mp4").await;
    let transcriber = transcriber(&world, "sync");
    let report = handle_notification(
        event(&world.bucket, "videos/silent film.mp4"),
        soon(),
        &transcriber,
    )
    .await
    .expect("a bad input does not fail the invocation");
    let Outcome::Rejected { error } = &report.records[0].outcome else {
        panic!("{report:?}");
    };
    assert!(error.to_lowercase().contains("audio"), "{error}");
    assert!(
        logs.text().contains("silent film.mp4"),
        "logged with the key"
    );
    assert_eq!(keys(&world).await, ["videos/silent film.mp4"]);
}

/// An async result that holds an error: only `InputError` drops the upload (and the
/// result); any other kind fails the record, keeping the result, so the event source
/// retries and then dead-letters it instead of losing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_error_result_is_dropped_only_for_input_errors() {
    let world = world().await;
    let transcriber = transcriber(&world, "async");
    let put = |key: String, body: Value| {
        let s3 = world.s3.clone();
        let bucket = world.bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .body(ByteStream::from(body.to_string().into_bytes()))
                .send()
                .await
                .expect("put the result");
            key
        }
    };
    let failed = put(
        format!("transcripts/.pending/{}/videos/a.mp4.etag1.json", world.bucket),
        json!({"error": {"message": "the Whisper model is not loaded", "error_type": "AlgorithmError"}}),
    )
    .await;
    let failure = handle_notification(event(&world.bucket, &failed), soon(), &transcriber)
        .await
        .expect_err("the invocation fails, so S3's async retries take over");
    assert_eq!(failure.error_type, "Retryable.RecordsFailed");
    let error = &failure.error_message;
    assert!(
        error.contains("(AlgorithmError): the Whisper model is not loaded"),
        "{error}"
    );
    assert!(keys(&world).await.contains(&failed), "the result is kept");

    let rejected = put(
        format!(
            "transcripts/.pending/{}/videos/b.mp4.etag2.json",
            world.bucket
        ),
        json!({"error": {"message": "the media has no audio track", "error_type": "InputError"}}),
    )
    .await;
    let report = handle_notification(event(&world.bucket, &rejected), soon(), &transcriber)
        .await
        .expect("handled");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Rejected { error } if error.contains("no audio")),
        "{report:?}"
    );
    assert!(
        !keys(&world).await.contains(&rejected),
        "the result is removed"
    );
}

/// An async result over `ALGORITHMIA_MAX_REPLY_BYTES` fails its record with the
/// setting named, and stays for the retries; one under the cap is read as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_result_over_the_reply_cap_fails_naming_the_setting() {
    let config = blueprint_testkit::moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let bucket = unique("capped");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let env: HashMap<&str, String> = HashMap::from([
        // Never called: rendering a result reads S3 only.
        ("ALGORITHMIA_API", "http://127.0.0.1:9".to_owned()),
        ("ALGORITHMIA_API_KEY", "simLocal".to_owned()),
        ("ALGORITHMIA_MAX_REPLY_BYTES", "4096".to_owned()),
    ]);
    let settings = Settings::from_env(|k| env.get(k).cloned()).expect("settings");
    let algorithms =
        AlgorithmClient::new(&settings.algorithmia, ApiKey::new("simLocal")).expect("client");
    let transcriber = Transcriber::new(settings, algorithms, &config);
    let put = |key: String, body: String| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .body(ByteStream::from(body.into_bytes()))
                .send()
                .await
                .expect("put the result");
            key
        }
    };
    let big = json!({"text": "word ".repeat(2000), "segments": []}).to_string();
    assert!(big.len() > 4096);
    let huge = put(
        format!("transcripts/.pending/{bucket}/talks/long.mp4.etag1.json"),
        big,
    )
    .await;
    let failure = handle_notification(event(&bucket, &huge), soon(), &transcriber)
        .await
        .expect_err("the record fails");
    assert_eq!(failure.error_type, "Retryable.RecordsFailed");
    assert!(
        failure
            .error_message
            .contains("over ALGORITHMIA_MAX_REPLY_BYTES (4096 bytes)"),
        "{}",
        failure.error_message
    );
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("list");
    assert!(
        listed
            .contents()
            .iter()
            .any(|o| o.key() == Some(huge.as_str())),
        "the result is kept for the retries"
    );

    let small = put(
        format!("transcripts/.pending/{bucket}/talks/short.mp4.etag2.json"),
        json!({"error": {"message": "the media has no audio track", "error_type": "InputError"}})
            .to_string(),
    )
    .await;
    let report = handle_notification(event(&bucket, &small), soon(), &transcriber)
        .await
        .expect("handled");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Rejected { error } if error.contains("no audio")),
        "{report:?}"
    );
}

/// A source key whose transcript keys would be over S3's 1,024-byte limit is rejected
/// before any call (the API here is unreachable: a call would fail the record instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_over_s3s_key_limit_are_rejected_before_any_call() {
    let config = blueprint_testkit::moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let bucket = unique("longkeys");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let key = format!("media/{}.mp4", "a".repeat(1010));
    assert!(key.len() <= 1024, "a valid source key");
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(ByteStream::from_static(b"not really media"))
        .send()
        .await
        .expect("upload");
    let env: HashMap<&str, String> = HashMap::from([
        ("ALGORITHMIA_API", "http://127.0.0.1:9".to_owned()),
        ("ALGORITHMIA_API_KEY", "simLocal".to_owned()),
    ]);
    let settings = Settings::from_env(|k| env.get(k).cloned()).expect("settings");
    let algorithms =
        AlgorithmClient::new(&settings.algorithmia, ApiKey::new("simLocal")).expect("client");
    let transcriber = Transcriber::new(settings, algorithms, &config);
    let report = handle_notification(event(&bucket, &key), soon(), &transcriber)
        .await
        .expect("a rejection does not fail the invocation");
    assert!(
        matches!(&report.records[0].outcome, Outcome::Rejected { error }
            if error.contains("over S3's 1024-byte key limit")),
        "{report:?}"
    );
}
