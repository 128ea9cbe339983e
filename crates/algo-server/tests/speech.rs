//! SpeechToText against the real binary over HTTP: word error rate on espeak-ng speech
//! in MP4 (AAC), MP3 and WAV, segment times, a video without sound, a corrupt file,
//! silence, and the async path writing to a presigned PUT URL of a real moto S3 bucket.
//!
//! Needs `make models fixtures` (models/ggml-tiny.en.bin, fixtures/generated/) and, for
//! the S3 tests, a moto server in MOTO_ENDPOINT (`make test` starts one).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use axum::http::StatusCode;
use common::{MotoBucket, Server, error_message};
use serde_json::{Value, json};

const ALGO: &str = "/v1/algo/blueprints/SpeechToText/1.0.0";
const MAX_WER: f64 = 0.3;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_path() -> PathBuf {
    let path = root().join("models/ggml-tiny.en.bin");
    assert!(
        path.is_file(),
        "{} is missing: run `make models fixtures` first (make test does)",
        path.display()
    );
    path
}

fn generated(name: &str) -> PathBuf {
    let path = root().join("fixtures/generated").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make models fixtures` first (make test does)",
        path.display()
    );
    path
}

fn read(name: &str) -> Vec<u8> {
    let path = generated(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn reference(name: &str) -> String {
    String::from_utf8(read(name)).expect("reference text is UTF-8")
}

fn start(extra: &[&str]) -> Server {
    let model = model_path();
    let model = model.to_str().expect("UTF-8 path");
    let mut args = vec![
        "--allow-anonymous",
        "--allow-fetch-host",
        "127.0.0.1",
        "--whisper-model",
        model,
        // Tests run side by side on few cores: one thread per call avoids contention.
        "--whisper-threads",
        "1",
    ];
    args.extend_from_slice(extra);
    Server::start_raw(&args).unwrap_or_else(|output| panic!("algo-server did not start: {output}"))
}

/// Lower case, punctuation dropped: "Hello, World!" -> ["hello", "world"].
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate: word-level edit distance over the reference's length.
fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (words(reference), words(hypothesis));
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, hw) in h.iter().enumerate() {
            let substitution = previous + usize::from(rw != hw);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[h.len()] as f64 / r.len().max(1) as f64
}

/// Checks one transcript against its reference text; returns its WER.
fn check_transcript(result: &Value, reference_text: &str, what: &str) -> f64 {
    let text = result["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no text in {result}"));
    let rate = wer(reference_text, text);
    assert!(
        rate <= MAX_WER,
        "{what}: WER {rate:.2} > {MAX_WER}\nheard:    {text}\nexpected: {reference_text}"
    );
    assert_eq!(result["language"], "en", "{what}: {result}");
    let duration = result["duration"]
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no duration"));
    assert!(duration > 1.0, "{what}: duration {duration}");
    let segments = result["segments"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no segments"));
    assert!(!segments.is_empty(), "{what}: no segments in {result}");
    let mut last_end = 0.0;
    for segment in segments {
        let start = segment["start"].as_f64().expect("start");
        let end = segment["end"].as_f64().expect("end");
        assert!(
            segment["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{what}: {segment}"
        );
        assert!(
            start >= last_end - 1e-6,
            "{what}: segment starts before the last ended: {segments:?}"
        );
        assert!(
            end >= start && end <= duration + 1e-6,
            "{what}: {segment} outside 0..{duration}"
        );
        last_end = end;
    }
    eprintln!("{what}: WER {rate:.3}, {:.1} s: {text}", duration);
    rate
}

async fn transcribe_bytes(server: &Server, name: &str) -> Value {
    let (status, reply) = server.call_bytes(ALGO, read(name)).await;
    assert_eq!(status, StatusCode::OK, "{name}: {reply}");
    assert_eq!(reply["metadata"]["content_type"], "json", "{name}: {reply}");
    reply["result"].clone()
}

#[tokio::test]
async fn transcribes_speech_in_mp4_mp3_and_wav() {
    let server = start(&[]);
    let expected = reference("speech.txt");
    for name in ["speech.mp4", "speech.mp3", "speech.wav"] {
        let result = transcribe_bytes(&server, name).await;
        check_transcript(&result, &expected, name);
    }
}

#[tokio::test]
async fn a_video_without_sound_is_a_clear_input_error() {
    let server = start(&[]);
    let (status, reply) = server.call_bytes(ALGO, read("noaudio.mp4")).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["error"]["error_type"], "InputError", "{reply}");
    assert!(error_message(&reply).contains("no audio track"), "{reply}");
}

#[tokio::test]
async fn hostile_wav_headers_are_refused_and_the_server_lives_on() {
    let server = start(&[]);
    let wav = |rate: u32, data_len: u32, payload: usize| {
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&1u16.to_le_bytes()); // mono
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&rate.wrapping_mul(2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        out.resize(out.len() + payload, 0);
        out
    };
    // 76 bytes claiming 4,294,967,291 Hz: this aborted the server (a 17 GB allocation).
    let bomb = wav(4_294_967_291, 32, 32);
    assert_eq!(bomb.len(), 76);
    for (body, expected) in [
        (bomb, "sample rate is 4294967291 Hz"),
        (wav(1, 2000, 2000), "sample rate is 1 Hz"),
        (wav(8_000, 9_600_000, 2048), "--max-media-samples-per-byte"),
    ] {
        let (status, reply) = server.call_bytes(ALGO, body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["error"]["error_type"], "InputError", "{reply}");
        let message = error_message(&reply);
        assert!(message.contains(expected), "{message}");
    }
    let health = common::client()
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("the server still answers");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_corrupt_file_is_a_clear_input_error() {
    let server = start(&[]);
    for body in [read("corrupt.mp4"), b"this is not media at all".to_vec()] {
        let (status, reply) = server.call_bytes(ALGO, body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["error"]["error_type"], "InputError", "{reply}");
        let message = error_message(&reply);
        assert!(
            message.contains("corrupt") || message.contains("not a format"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn silence_gives_no_invented_words() {
    let server = start(&[]);
    let result = transcribe_bytes(&server, "silence.wav").await;
    let heard = words(result["text"].as_str().expect("text"));
    assert!(heard.len() <= 1, "silence was heard as {heard:?}: {result}");
    assert!(
        result["duration"].as_f64().is_some_and(|d| d > 1.0),
        "{result}"
    );
}

#[tokio::test]
async fn media_over_the_length_limit_is_refused_before_decoding() {
    let server = start(&["--max-media-seconds", "20"]);
    let started = Instant::now();
    let (_, reply) = server.call_bytes(ALGO, read("long.wav")).await;
    assert_eq!(reply["error"]["error_type"], "InputError", "{reply}");
    let message = error_message(&reply);
    assert!(message.contains("--max-media-seconds"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// `output_url` is checked (its host resolved and classified) before the media is
/// fetched or transcribed: a refused host fails the call at once.
#[tokio::test]
async fn a_refused_output_url_fails_before_any_work() {
    let server = start(&[]);
    for (output_url, says) in [
        ("http://localhost:9/out.json", "loopback"),
        ("http://169.254.169.254/latest/out.json", "link-local"),
    ] {
        let (status, reply) = server
            .call_json(
                &format!("{ALGO}?output=void"),
                &json!({"url": "http://127.0.0.1:9/x.mp4", "output_url": output_url}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["error"]["error_type"], "InputError", "{reply}");
        let message = error_message(&reply);
        assert!(
            message.starts_with("input field `output_url`") && message.contains(says),
            "{message}"
        );
        assert!(
            !message.contains("x.mp4"),
            "the media was never fetched: {message}"
        );
    }
}

#[tokio::test]
async fn bad_options_name_the_field() {
    let server = start(&[]);
    let (_, reply) = server
        .call_json(
            ALGO,
            &json!({"url": "http://127.0.0.1:9/x.mp4", "language": "xx"}),
        )
        .await;
    // Options are checked before the media is fetched.
    assert_eq!(reply["error"]["error_type"], "InputError", "{reply}");
    assert!(error_message(&reply).contains("`language`"), "{reply}");
    let (_, reply) = server
        .call_json(
            ALGO,
            &json!({"url": "http://127.0.0.1:9/x.mp4", "language": "fr"}),
        )
        .await;
    assert!(error_message(&reply).contains("English-only"), "{reply}");
    let (_, reply) = server
        .call_json(ALGO, &json!({"url": "http://127.0.0.1:9/x.mp4"}))
        .await;
    assert!(error_message(&reply).contains("`url`"), "{reply}");
    let (_, reply) = server.call_json(ALGO, &json!({"uri": "x"})).await;
    assert!(error_message(&reply).contains("`url`"), "{reply}");
    let (_, reply) = server
        .call_json(
            ALGO,
            &json!({"url": "http://127.0.0.1:9/x", "output_url": "s3://bucket/key"}),
        )
        .await;
    assert!(error_message(&reply).contains("`output_url`"), "{reply}");
}

#[tokio::test]
async fn without_the_model_the_server_starts_and_says_how_to_get_it() {
    let server = Server::start_raw(&[
        "--allow-anonymous",
        "--whisper-model",
        "/nonexistent/ggml-model.bin",
    ])
    .unwrap_or_else(|output| panic!("algo-server did not start: {output}"));
    let listing: Value = common::client()
        .get(server.url("/v1/algorithms"))
        .send()
        .await
        .expect("listing")
        .json()
        .await
        .expect("JSON");
    assert!(
        listing.to_string().contains("blueprints/SpeechToText"),
        "{listing}"
    );
    let (status, reply) = server.call_bytes(ALGO, b"RIFF....".to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let message = error_message(&reply);
    assert!(
        message.contains("make models") && message.contains("/nonexistent/ggml-model.bin"),
        "{message}"
    );
}

/// Presigned URLs of a moto bucket, for the URL and async tests.
impl MotoBucket {
    fn presigning() -> PresigningConfig {
        PresigningConfig::expires_in(Duration::from_secs(900)).expect("presigning config")
    }

    async fn get_url(&self, key: &str) -> String {
        let request = self.client.get_object().bucket(&self.name).key(key);
        request
            .presigned(Self::presigning())
            .await
            .expect("presign GET")
            .uri()
            .to_owned()
    }

    async fn put_url(&self, key: &str) -> String {
        let request = self.client.put_object().bucket(&self.name).key(key);
        request
            .presigned(Self::presigning())
            .await
            .expect("presign PUT")
            .uri()
            .to_owned()
    }

    /// Waits for `key` to appear and returns its JSON.
    async fn wait_json(&self, key: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            match self.try_get(key).await {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes).expect("the written result is JSON");
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await
                }
                Err(error) => panic!("{key} was not written within {within:?}: {error}"),
            }
        }
    }
}

#[tokio::test]
async fn transcribes_from_a_presigned_url() {
    let bucket = MotoBucket::new("speech").await;
    bucket.put("in/speech.mp4", read("speech.mp4")).await;
    let server = start(&[]);
    let url = bucket.get_url("in/speech.mp4").await;
    let (status, reply) = server
        .call_json(ALGO, &json!({"url": url, "language": "en"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    check_transcript(
        &reply["result"],
        &reference("speech.txt"),
        "speech.mp4 by URL",
    );
}

#[tokio::test]
async fn async_mode_writes_the_result_to_a_presigned_put_url() {
    let bucket = MotoBucket::new("speech").await;
    bucket.put("in/speech.mp4", read("speech.mp4")).await;
    bucket.put("in/corrupt.mp4", read("corrupt.mp4")).await;
    let server = start(&[]);

    let input = json!({
        "url": bucket.get_url("in/speech.mp4").await,
        "output_url": bucket.put_url("out/speech.json").await,
    });
    let started = Instant::now();
    let (status, reply) = server
        .call_json(&format!("{ALGO}?output=void&timeout=600"), &input)
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["async"], "void", "{reply}");
    assert!(
        reply["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{reply}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the async reply took {:?}",
        started.elapsed()
    );
    let written = bucket
        .wait_json("out/speech.json", Duration::from_secs(180))
        .await;
    check_transcript(&written, &reference("speech.txt"), "async speech.mp4");

    let failing = json!({
        "url": bucket.get_url("in/corrupt.mp4").await,
        "output_url": bucket.put_url("out/corrupt.json").await,
    });
    let (_, reply) = server
        .call_json(&format!("{ALGO}?output=void"), &failing)
        .await;
    assert_eq!(reply["async"], "void", "{reply}");
    let written = bucket
        .wait_json("out/corrupt.json", Duration::from_secs(60))
        .await;
    let message = written["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {written}"));
    assert!(
        message.contains("corrupt") || message.contains("not a format"),
        "{written}"
    );

    // A bad input is reported at `output_url` too: the async caller has no other channel.
    let malformed = json!({"url": 42, "output_url": bucket.put_url("out/malformed.json").await});
    let (_, reply) = server
        .call_json(&format!("{ALGO}?output=void"), &malformed)
        .await;
    assert_eq!(reply["async"], "void", "{reply}");
    let written = bucket
        .wait_json("out/malformed.json", Duration::from_secs(30))
        .await;
    assert_eq!(written["error"]["error_type"], "InputError", "{written}");
    let message = written["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`url`"), "{written}");
}

#[test]
fn word_error_rate_normalises_case_and_punctuation() {
    assert_eq!(wer("Hello, world!", "hello world"), 0.0);
    assert_eq!(wer("the cat sat", "the cat sat down"), 1.0 / 3.0);
    assert_eq!(wer("the cat sat", "a cat"), 2.0 / 3.0);
}

/// Speech calls wait for Whisper's slots without holding a worker thread, so other
/// algorithms keep being served while transcriptions queue: with two workers and one
/// Whisper slot, Echo answers before the first of three transcriptions ends (when a
/// waiting speech call held the second worker, Echo had to wait for that end).
#[tokio::test]
async fn other_algorithms_are_served_while_speech_calls_wait_for_whisper() {
    let model = model_path();
    let server = std::sync::Arc::new(
        Server::start_raw(&[
            "--allow-anonymous",
            "--whisper-model",
            model.to_str().expect("UTF-8 path"),
            // 2 threads a call: one transcription at a time on a 2-core machine.
            "--whisper-threads",
            "2",
            "--workers",
            "2",
        ])
        .unwrap_or_else(|output| panic!("algo-server did not start: {output}")),
    );
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            tokio::spawn(async move {
                let reply = server.call_bytes(ALGO, read("speech.wav")).await;
                (reply, Instant::now())
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.in_flight().await < 3 {
        assert!(Instant::now() < deadline, "the speech calls never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Echo", &json!("still served"))
        .await;
    let echo_done = Instant::now();
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["result"], "still served", "{reply}");
    for call in calls {
        let ((status, reply), done) = call.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert!(reply.get("error").is_none(), "{reply}");
        assert!(
            echo_done < done,
            "Echo answered after a transcription ended: it waited for a worker"
        );
    }
}
