//! The fault-injection run: the three blueprints end to end through local delivery
//! (moto, a real `algo-server` behind a fault-injecting gateway, cargo-lambda's
//! emulator, `local-trigger`) while the run injects faults, then a ledger of every
//! input. Pass: each input ends exactly once in one of {output written once, rejected
//! with its reason, dead-lettered with its reason}; nothing lost, nothing written twice.
//!
//! Faults, in this order while the inputs flow (repeated every 8 s in longer runs): a window of 429s, `algo-server` killed
//! mid-batch and restarted on the same port 1.5 s later (the gateway answers 502
//! meanwhile), a window of 503s, a 1.5 s outage of moto as the functions and the server
//! reach it (a proxy drops every connection: S3 and DynamoDB unreachable, presigned URLs
//! failing), and every S3 notification delivered a second time, in reverse order
//! (duplicated and reordered events). Recordings are transcribed as async jobs
//! (`output=void`), and the first submission of one is answered as accepted and never
//! forwarded (a dropped async result): s3-transcribe's sweep, run every 3 s with a job
//! deadline of 6 s (`ASYNC_JOB_DEADLINE`), must resubmit it. Outputs are counted as S3 object versions
//! (versioned buckets) and DynamoDB writes as stream MODIFY records, so a second write
//! of the same output is seen even when it is identical.
//!
//! `make test` runs it small (`CHAOS_SCALE=1`: 6 images, 2 recordings, 12 items, and
//! four inputs that must be rejected); `make chaos` runs `CHAOS_SCALE=20` (120 images,
//! 11 recordings, 240 items, the same four).

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use axum::http::StatusCode;
use blueprint_testkit::{
    AlgoServer, Gateway, OutageProxy, free_port, moto_config, moto_endpoint, table_with_stream,
    unique, workspace_root,
};
use local_trigger::{AwsJson, StreamReader};
use serde_json::{Value, json};
use system_tests::{
    Processes, WAIT, local_trigger_bin, model_features, notify, read_json, start_function,
};

const KEY: &str = "simChaosKey0123";
const MODEL: &str = "breast-cancer/1.0.0";

/// What the gateway does to each call: pass it on, or answer it itself.
const PASS: u8 = 0;
const THROTTLE: u8 = 1;
const UNAVAILABLE: u8 = 2;

fn scale() -> usize {
    std::env::var("CHAOS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// How each input ended.
#[derive(Debug, Default)]
struct Ledger {
    inputs: usize,
    written: usize,
    rejected: usize,
    dead_lettered: usize,
    duplicates: Vec<String>,
    lost: Vec<String>,
}

impl Ledger {
    fn print(&self, title: &str) {
        println!(
            "ledger {title}: inputs {}, written once {}, rejected with reason {}, \
             dead-lettered {}, duplicates {}, lost {}",
            self.inputs,
            self.written,
            self.rejected,
            self.dead_lettered,
            self.duplicates.len(),
            self.lost.len()
        );
    }

    fn add(&mut self, other: &Ledger) {
        self.inputs += other.inputs;
        self.written += other.written;
        self.rejected += other.rejected;
        self.dead_lettered += other.dead_lettered;
        self.duplicates.extend(other.duplicates.iter().cloned());
        self.lost.extend(other.lost.iter().cloned());
    }
}

async fn versioned_bucket(s3: &aws_sdk_s3::Client, prefix: &str) -> String {
    let bucket = unique(prefix);
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
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
    bucket
}

/// Versions of every key under `prefix`.
async fn versions(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .expect("list versions");
        for version in page.versions() {
            if let Some(key) = version.key() {
                *counts.entry(key.to_owned()).or_insert(0) += 1;
            }
        }
        if page.is_truncated() != Some(true) {
            return counts;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

/// The S3 notification of `key`, as moto sends it (what a duplicate delivery repeats).
fn notification(bucket: &str, key: &str, size: usize, etag: &str) -> String {
    let encoded: String = form_urlencoded_key(key);
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encoded, "size": size, "eTag": etag.trim_matches('"')}
        }
    }]})
    .to_string()
}

/// S3 notifications encode keys as form values (a space is `+`).
fn form_urlencoded_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The keys (S3) and ids (DynamoDB) of the dead-letter file's records.
fn dead_lettered(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut found = Vec::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        for record in entry["event"]["Records"].as_array().into_iter().flatten() {
            if let Some(key) = record["s3"]["object"]["key"].as_str() {
                found.push(key.replace('+', " "));
            }
            if let Some(id) = record["dynamodb"]["Keys"]["id"]["S"].as_str() {
                found.push(id.to_owned());
            }
        }
    }
    found
}

/// The source keys of the async jobs s3-transcribe's sweep gave up on (its failure
/// queue's messages: `{"reason", "source": {"bucket", "key", ...}, ...}`), left in the
/// queue for the next look.
async fn given_up_keys(sqs: &AwsJson, queue: &str) -> Vec<String> {
    let Ok(reply) = sqs
        .sqs(
            "ReceiveMessage",
            json!({"QueueUrl": queue, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0}),
        )
        .await
    else {
        return Vec::new();
    };
    reply["Messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| serde_json::from_str::<Value>(m["Body"].as_str()?).ok())
        .filter_map(|body| body["source"]["key"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_ends_exactly_once_under_injected_faults() {
    let scale = scale();
    // Transcriptions take seconds each on the debug server: fewer of them as it grows.
    let (n_images, n_media, n_items) = (6 * scale, 1 + scale.div_ceil(2), 12 * scale);
    let root = workspace_root();
    let config = moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = AwsJson::new(&moto_endpoint());

    let server_port = free_port();
    let mut server = Some(AlgoServer::start_on(
        server_port,
        &["--api-key", KEY, "--allow-fetch-host", "127.0.0.1"],
    ));
    let mode = Arc::new(AtomicU8::new(PASS));
    let gateway_mode = Arc::clone(&mode);
    // The first asynchronous submission of the first recording is answered as accepted
    // and never forwarded: a dropped async result, which only the sweep can mend.
    let dropped = Arc::new(AtomicU32::new(0));
    let gateway_dropped = Arc::clone(&dropped);
    let gateway = Gateway::start(
        &format!("http://127.0.0.1:{server_port}"),
        Arc::new(move |body: &[u8]| {
            let text = String::from_utf8_lossy(body);
            if text.contains("output_url")
                && text.contains("clip%200.mp4")
                && gateway_dropped
                    .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                let accepted = r#"{"async":"void","request_id":"dropped-by-the-chaos-run"}"#;
                return Some((StatusCode::OK, accepted.to_owned()));
            }
            match gateway_mode.load(Ordering::SeqCst) {
                THROTTLE => Some((StatusCode::TOO_MANY_REQUESTS, String::new())),
                UNAVAILABLE => Some((StatusCode::SERVICE_UNAVAILABLE, String::new())),
                _ => None,
            }
        }),
    )
    .await;

    // The functions (and the presigned URLs they hand the server) reach moto through a
    // proxy that the run cuts for a while: an outage of S3 and DynamoDB.
    let moto_addr = moto_endpoint()
        .trim_start_matches("http://")
        .parse()
        .expect("moto's address");
    let storage = Arc::new(OutageProxy::start(moto_addr).await);

    let images = versioned_bucket(&s3, "chaos-images").await;
    let media = versioned_bucket(&s3, "chaos-media").await;
    let image_queue = notify(&s3, &sqs, &images, &[&[("prefix", "uploads/")]]).await;
    let media_queue = notify(
        &s3,
        &sqs,
        &media,
        &[
            &[("prefix", "media/")],
            &[("prefix", "transcripts/.pending/"), ("suffix", ".json")],
        ],
    )
    .await;
    // Where s3-transcribe's sweep sends an async job it gives up on.
    let given_up = sqs
        .sqs(
            "CreateQueue",
            json!({"QueueName": unique("chaos-given-up")}),
        )
        .await
        .expect("create queue")["QueueUrl"]
        .as_str()
        .expect("queue URL")
        .to_owned();
    let (table, stream) = table_with_stream(&dynamodb, "chaos-items").await;
    let features = model_features(MODEL);
    let rows = read_json(&root.join(format!("models/predict/{MODEL}/expected.json")));
    let rows = rows.as_array().expect("expected rows").clone();

    let mut processes = Processes::new();
    let (_, runtime) = processes.start_runtime_api();
    let common = [
        ("ALGORITHMIA_API", gateway.url.clone()),
        ("ALGORITHMIA_API_KEY", KEY.to_owned()),
        ("AWS_ENDPOINT_URL", storage.url.clone()),
    ];
    start_function(
        &mut processes,
        &runtime,
        "s3-thumbnail",
        "s3-thumbnail",
        &[common.as_slice(), &[("THUMBNAIL_SIZES", "96x96".into())]].concat(),
    );
    start_function(
        &mut processes,
        &runtime,
        "s3-transcribe",
        "s3-transcribe",
        &[
            common.as_slice(),
            &[
                // Every recording as an async job, with a sweep deadline of seconds.
                ("TRANSCRIBE_MODE", "async".into()),
                ("ASYNC_JOB_DEADLINE", "6".into()),
                ("FAILURE_QUEUE_URL", given_up.clone()),
            ],
        ]
        .concat(),
    );
    start_function(
        &mut processes,
        &runtime,
        "dynamodb-predict",
        "dynamodb-predict",
        &[
            common.as_slice(),
            &[
                ("MODEL", MODEL.into()),
                ("FEATURES", features.join(",")),
                ("MAX_BATCH_SIZE", "5".into()),
            ],
        ]
        .concat(),
    );
    let dead_letter = processes.dir.join("dead-letter.jsonl");
    processes.start(
        "local-trigger",
        Command::new(local_trigger_bin())
            .arg("--endpoint")
            .arg(moto_endpoint())
            .arg("--runtime")
            .arg(&runtime)
            .arg("--s3-queue")
            .arg(format!("{image_queue}=s3-thumbnail"))
            .arg("--s3-queue")
            .arg(format!("{media_queue}=s3-transcribe"))
            .arg("--dynamodb-stream")
            .arg(format!("{stream}=dynamodb-predict"))
            .arg("--max-attempts")
            .arg("6")
            .arg("--dead-letter")
            .arg(&dead_letter)
            .env("RUST_LOG", "info"),
    );

    // The faults, on a clock of their own while the inputs flow: 429s, then
    // algo-server killed (the gateway answers 502) and restarted on the same port, then
    // 503s.
    // The EventBridge schedule of s3-transcribe's template, every 3 s instead of 10 min.
    let sweep_url = format!("{runtime}/2015-03-31/functions/s3-transcribe/invocations");
    let sweep_event = json!({"sweep": "async-jobs", "bucket": media}).to_string();
    let sweeps = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let _ = http.post(&sweep_url).body(sweep_event.clone()).send().await;
        }
    });

    // Repeated every 8 s for longer runs (`make chaos`): 1 cycle at scale 1, 6 at 20.
    let cycles = 1 + (scale - 1) / 4;
    let started = Instant::now();
    let fault_mode = Arc::clone(&mode);
    let outage = Arc::clone(&storage);
    let mut running = server.take();
    let faults = tokio::spawn(async move {
        let mut restarted = None;
        for cycle in 0..cycles {
            let at = |secs: f64| started + Duration::from_secs_f64(8.0 * cycle as f64 + secs);
            tokio::time::sleep_until(at(0.5).into()).await;
            fault_mode.store(THROTTLE, Ordering::SeqCst);
            tokio::time::sleep_until(at(2.0).into()).await;
            fault_mode.store(PASS, Ordering::SeqCst);
            drop(running.take());
            drop(restarted.take());
            tokio::time::sleep_until(at(3.5).into()).await;
            restarted = Some(AlgoServer::start_on(
                server_port,
                &["--api-key", KEY, "--allow-fetch-host", "127.0.0.1"],
            ));
            tokio::time::sleep_until(at(4.0).into()).await;
            fault_mode.store(UNAVAILABLE, Ordering::SeqCst);
            tokio::time::sleep_until(at(5.5).into()).await;
            fault_mode.store(PASS, Ordering::SeqCst);
            outage.cut();
            tokio::time::sleep_until(at(7.0).into()).await;
            outage.restore();
        }
        restarted
    });

    // Inputs: images (two of them not images), recordings (one not media), items (one
    // with a feature that is not a number).
    let jpeg = std::fs::read(root.join("fixtures/images/astronaut.jpg")).expect("astronaut.jpg");
    let clip = std::fs::read(root.join("fixtures/generated/speech.mp4"))
        .expect("fixtures/generated/speech.mp4: run `make fixtures`");
    let mut uploads: Vec<(String, String, usize, String)> = Vec::new();
    let bad_images = ["uploads/bad 0.jpg", "uploads/bad 1.jpg"];
    let good_images: Vec<String> = (0..n_images)
        .map(|i| format!("uploads/photo {i}.jpg"))
        .collect();
    for key in good_images.iter().map(String::as_str).chain(bad_images) {
        let bytes = if key.contains("bad") {
            b"this is not a JPEG".to_vec()
        } else {
            jpeg.clone()
        };
        let put = s3
            .put_object()
            .bucket(&images)
            .key(key)
            .content_type("image/jpeg")
            .body(ByteStream::from(bytes.clone()))
            .send()
            .await
            .expect("put image");
        uploads.push((
            images.clone(),
            key.to_owned(),
            bytes.len(),
            put.e_tag.unwrap_or_default(),
        ));
    }
    let bad_media = "media/bad.mp4";
    let good_media: Vec<String> = (0..n_media)
        .map(|i| format!("media/clip {i}.mp4"))
        .collect();
    for key in good_media.iter().map(String::as_str).chain([bad_media]) {
        let bytes = if key == bad_media {
            b"not a video at all".to_vec()
        } else {
            clip.clone()
        };
        let put = s3
            .put_object()
            .bucket(&media)
            .key(key)
            .content_type("video/mp4")
            .body(ByteStream::from(bytes.clone()))
            .send()
            .await
            .expect("put media");
        uploads.push((
            media.clone(),
            key.to_owned(),
            bytes.len(),
            put.e_tag.unwrap_or_default(),
        ));
    }
    let bad_item = "bad";
    for i in 0..=n_items {
        let id = if i == n_items {
            bad_item.to_owned()
        } else {
            format!("p{i}")
        };
        let row = &rows[i % rows.len()];
        let mut item = HashMap::from([("id".to_owned(), AttributeValue::S(id.clone()))]);
        for (n, name) in features.iter().enumerate() {
            let value = row["features"][name].as_f64().expect("feature value");
            let value = if id == bad_item && n == 0 {
                AttributeValue::S("not a number".into())
            } else {
                AttributeValue::N(value.to_string())
            };
            item.insert(name.clone(), value);
        }
        dynamodb
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .expect("put item");
    }

    // Every notification delivered again, in reverse order.
    for (bucket, key, size, etag) in uploads.iter().rev() {
        let queue = if *bucket == images {
            &image_queue
        } else {
            &media_queue
        };
        sqs.sqs(
            "SendMessage",
            json!({"QueueUrl": queue, "MessageBody": notification(bucket, key, *size, etag)}),
        )
        .await
        .expect("duplicate notification");
    }
    let server = faults.await.expect("fault schedule");

    // Wait until every input has ended somewhere: an output, a rejection in the
    // function's log, or the dead-letter file.
    let expected_thumbnails: Vec<String> = good_images
        .iter()
        .map(|k| format!("thumbnails/96x96/{k}"))
        .collect();
    let expected_transcripts: Vec<String> = good_media
        .iter()
        .map(|k| format!("transcripts/{k}.json"))
        .collect();
    let ended = |log: &str, key: &str, dead: &[String]| {
        dead.iter().any(|d| d == key)
            || log
                .lines()
                .any(|l| l.contains("rejected") && l.contains(key))
    };
    let deadline = Instant::now() + WAIT * u32::try_from(scale.div_ceil(4)).unwrap_or(1).max(1);
    loop {
        let dead = [
            dead_lettered(&dead_letter),
            given_up_keys(&sqs, &given_up).await,
        ]
        .concat();
        let thumbs = versions(&s3, &images, "thumbnails/").await;
        let transcripts = versions(&s3, &media, "transcripts/").await;
        let logs = processes.logs_of(&["s3-thumbnail", "s3-transcribe", "dynamodb-predict"]);
        let images_done = good_images
            .iter()
            .zip(&expected_thumbnails)
            .all(|(k, t)| thumbs.contains_key(t) || ended("", k, &dead))
            && bad_images.iter().all(|k| ended(&logs, k, &dead));
        let media_done = good_media
            .iter()
            .zip(&expected_transcripts)
            .all(|(k, t)| transcripts.contains_key(t) || ended("", k, &dead))
            && ended(&logs, bad_media, &dead);
        let mut items_done = true;
        for i in 0..n_items {
            if !items_done {
                break;
            }
            let item = dynamodb
                .get_item()
                .table_name(&table)
                .key("id", AttributeValue::S(format!("p{i}")))
                .consistent_read(true)
                .send()
                .await
                .expect("get item")
                .item
                .unwrap_or_default();
            items_done = item.contains_key("prediction") || ended("", &format!("p{i}"), &dead);
        }
        if images_done && media_done && items_done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every input ended in time (images {images_done}, media {media_done}, \
             items {items_done}); logs:{}",
            processes.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Late duplicates would land after the first outputs: let deliveries settle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    sweeps.abort();

    // The ledger.
    let dead = [
        dead_lettered(&dead_letter),
        given_up_keys(&sqs, &given_up).await,
    ]
    .concat();
    let logs = processes.logs_of(&["s3-thumbnail", "s3-transcribe", "dynamodb-predict"]);
    let mut total = Ledger::default();
    let thumbs = versions(&s3, &images, "thumbnails/").await;
    let transcripts = versions(&s3, &media, "transcripts/").await;
    let mut objects = Ledger::default();
    let outputs = good_images
        .iter()
        .zip(&expected_thumbnails)
        .chain(good_media.iter().zip(&expected_transcripts));
    for (input, output) in outputs {
        objects.inputs += 1;
        let bucket_versions = if output.starts_with("thumbnails/") {
            &thumbs
        } else {
            &transcripts
        };
        match bucket_versions.get(output).copied().unwrap_or(0) {
            0 if dead.contains(input) => objects.dead_lettered += 1,
            0 => objects.lost.push(input.clone()),
            1 => objects.written += 1,
            n => objects
                .duplicates
                .push(format!("{output} written {n} times")),
        }
    }
    for bad in bad_images.iter().chain([&bad_media]) {
        objects.inputs += 1;
        if dead.iter().any(|d| d == bad) {
            objects.dead_lettered += 1;
        } else if ended(&logs, bad, &[]) {
            objects.rejected += 1;
        } else {
            objects.lost.push((*bad).to_owned());
        }
    }
    objects.print("objects");
    total.add(&objects);

    let records = tokio::time::timeout(WAIT, StreamReader::new(&moto_endpoint()).records(&stream))
        .await
        .expect("reading the stream ends")
        .expect("stream records");
    let mut writes: BTreeMap<String, usize> = BTreeMap::new();
    for record in records.iter().filter(|r| r["eventName"] == "MODIFY") {
        if let Some(id) = record["dynamodb"]["Keys"]["id"]["S"].as_str() {
            *writes.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    let mut items = Ledger::default();
    for i in 0..n_items {
        items.inputs += 1;
        let id = format!("p{i}");
        match writes.get(&id).copied().unwrap_or(0) {
            0 if dead.contains(&id) => items.dead_lettered += 1,
            0 => items.lost.push(id),
            1 => items.written += 1,
            n => items.duplicates.push(format!("{id} written {n} times")),
        }
    }
    // The report names a stream record by its sequence number.
    let bad_sequence = records
        .iter()
        .find(|r| r["eventName"] == "INSERT" && r["dynamodb"]["Keys"]["id"]["S"] == bad_item)
        .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
        .expect("the bad item's stream record")
        .to_owned();
    items.inputs += 1;
    match writes.get(bad_item) {
        Some(_) => items.duplicates.push("the bad item was written".into()),
        None if dead.iter().any(|d| d == bad_item) => items.dead_lettered += 1,
        None if ended(&logs, &bad_sequence, &[]) => items.rejected += 1,
        None => items.lost.push(bad_item.into()),
    }
    items.print("items");
    total.add(&items);
    total.print("total");
    println!(
        "faults: {cycles} cycles; gateway calls {}, answered by the gateway (429/503) {}; \
         storage connections refused or cut by the outages {}; async results dropped {}",
        gateway.counters.calls.load(Ordering::SeqCst),
        gateway.counters.failed.load(Ordering::SeqCst),
        storage.dropped.load(Ordering::SeqCst),
        dropped.load(Ordering::SeqCst)
    );

    assert!(
        total.lost.is_empty() && total.duplicates.is_empty(),
        "lost {:?}, duplicates {:?}; logs:{}",
        total.lost,
        total.duplicates,
        processes.logs()
    );
    assert_eq!(
        total.written + total.rejected + total.dead_lettered,
        total.inputs,
        "{total:?}"
    );
    assert_eq!(
        total.rejected, 4,
        "the four bad inputs are rejected: {total:?}"
    );
    assert!(
        gateway.counters.failed.load(Ordering::SeqCst) > 0 && dropped.load(Ordering::SeqCst) == 1,
        "the faults were not injected: the run proves nothing"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&processes.dir);
}
