//! Every blueprint end to end, as `make demo` runs them: objects and items written to
//! moto; moto's S3 notifications (through SQS) and DynamoDB stream records delivered
//! by the `local-trigger` binary through cargo-lambda's Runtime API emulator
//! (`cargo lambda watch --only-lambda-apis`) to the real blueprint binaries; those
//! decrypt their API key with moto's KMS and call a real `algo-server`.
//!
//! One stream record is made to fail at the algorithm every time: the function reports
//! it alone, local-trigger retries from its sequence number and, once its attempts are
//! spent, dead-letters it; the records around it are predicted and written once.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use axum::http::StatusCode;
use base64::Engine;
use blueprint_testkit::{
    AlgoServer, Gateway, moto_config, moto_endpoint, table_with_stream, unique, workspace_root,
};
use local_trigger::{AwsJson, StreamReader};
use serde_json::Value;
use system_tests::{
    Processes, WAIT, body, cargo_lambda, keys, local_trigger_bin, model_features, notify,
    read_json, start_function,
};

const KEY: &str = "simEndToEndKey0123";
const MODEL: &str = "breast-cancer/1.0.0";
/// A feature value no real row has: the gateway fails every call that carries it.
const POISON: f64 = 777.25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_real_binaries_and_a_failing_record_is_retried_then_dead_lettered() {
    let root = workspace_root();
    let config = moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let kms = aws_sdk_kms::Client::new(&config);
    let sqs = AwsJson::new(&moto_endpoint());

    // The key travels KMS-encrypted, as in the templates' advanced mode.
    let key_id = kms
        .create_key()
        .send()
        .await
        .expect("create key")
        .key_metadata
        .expect("key metadata")
        .key_id;
    let ciphertext = kms
        .encrypt()
        .key_id(key_id)
        .plaintext(KEY.as_bytes().to_vec().into())
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("ciphertext");
    let ciphertext = base64::engine::general_purpose::STANDARD.encode(ciphertext.as_ref());

    let server = AlgoServer::start(&["--api-key", KEY, "--allow-fetch-host", "127.0.0.1"]);
    let poison = POISON.to_string();
    let gateway = Gateway::start(
        &server.url,
        Arc::new(move |body: &[u8]| {
            String::from_utf8_lossy(body)
                .contains(poison.as_str())
                .then(|| (StatusCode::SERVICE_UNAVAILABLE, String::new()))
        }),
    )
    .await;

    let images = unique("e2e-images");
    let media = unique("e2e-media");
    for bucket in [&images, &media] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
    }
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
    let (table, stream) = table_with_stream(&dynamodb, "patients").await;
    let features = model_features(MODEL);
    let rows = read_json(&root.join(format!("models/predict/{MODEL}/expected.json")));
    let rows = &rows.as_array().expect("expected rows")[..4];

    let mut processes = Processes::new();
    let (runtime_port, runtime) = processes.start_runtime_api();
    let common = [
        ("ALGORITHMIA_API", server.url.clone()),
        ("ALGORITHMIA_API_KEY_KMS", ciphertext.clone()),
    ];
    start_function(
        &mut processes,
        &runtime,
        "s3-thumbnail",
        "s3-thumbnail",
        &[
            common.as_slice(),
            &[("THUMBNAIL_SIZES", "200x200,640x360".into())],
        ]
        .concat(),
    );
    start_function(
        &mut processes,
        &runtime,
        "s3-transcribe",
        "s3-transcribe",
        &common,
    );
    start_function(
        &mut processes,
        &runtime,
        "dynamodb-predict",
        "dynamodb-predict",
        &[
            ("ALGORITHMIA_API", gateway.url.clone()),
            ("ALGORITHMIA_API_KEY_KMS", ciphertext.clone()),
            ("MODEL", MODEL.into()),
            ("FEATURES", features.join(",")),
            // One call per record, so that only the poisoned record's call fails.
            ("MAX_BATCH_SIZE", "1".into()),
        ],
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
            .arg("2")
            .arg("--dead-letter")
            .arg(&dead_letter)
            .env("RUST_LOG", "info"),
    );

    let photo = "uploads/astronaut photo.jpg";
    let video = "media/hello world.mp4";
    s3.put_object()
        .bucket(&images)
        .key(photo)
        .content_type("image/jpeg")
        .body(ByteStream::from(
            std::fs::read(root.join("fixtures/images/astronaut.jpg")).expect("astronaut.jpg"),
        ))
        .send()
        .await
        .expect("put photo");
    let clip = root.join("fixtures/generated/speech.mp4");
    s3.put_object()
        .bucket(&media)
        .key(video)
        .content_type("video/mp4")
        .body(ByteStream::from(std::fs::read(&clip).unwrap_or_else(|e| {
            panic!("{}: {e}; run `make fixtures` first", clip.display())
        })))
        .send()
        .await
        .expect("put video");
    // Items 0, 1 and 3 as scikit-learn saw them; item 2 carries the poison value.
    for (i, row) in rows.iter().enumerate() {
        let mut item = HashMap::from([("id".to_owned(), AttributeValue::S(format!("p{i}")))]);
        for (n, name) in features.iter().enumerate() {
            let value = row["features"][name].as_f64().expect("feature value");
            let value = if i == 2 && n == 0 { POISON } else { value };
            item.insert(name.clone(), AttributeValue::N(value.to_string()));
        }
        dynamodb
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .expect("put item");
    }

    // s3-thumbnail: both sizes, as JPEG, under thumbnails/SIZE/KEY.
    let thumbnails = ["thumbnails/200x200/", "thumbnails/640x360/"].map(|p| format!("{p}{photo}"));
    let (s3_ref, images_ref, thumbnails_ref) = (&s3, &images, &thumbnails);
    processes
        .wait_for("thumbnails", || async move {
            let found = keys(s3_ref, images_ref, "thumbnails/").await;
            thumbnails_ref
                .iter()
                .all(|k| found.contains(k))
                .then_some(())
        })
        .await;
    for key in &thumbnails {
        let (bytes, content_type) = body(&s3, &images, key).await;
        assert_eq!(content_type.as_deref(), Some("image/jpeg"), "{key}");
        assert!(bytes.starts_with(&[0xFF, 0xD8]), "{key} is not a JPEG");
    }

    // s3-transcribe: the transcript in four formats, with the spoken words.
    let transcripts = ["json", "txt", "vtt", "srt"].map(|ext| format!("transcripts/{video}.{ext}"));
    let (media_ref, transcripts_ref) = (&media, &transcripts);
    processes
        .wait_for("transcripts", || async move {
            let found = keys(s3_ref, media_ref, "transcripts/").await;
            transcripts_ref
                .iter()
                .all(|k| found.contains(k))
                .then_some(())
        })
        .await;
    let (text, _) = body(&s3, &media, &transcripts[1]).await;
    let text = String::from_utf8_lossy(&text).to_lowercase();
    for word in ["morning", "speech", "recognition"] {
        assert!(
            text.contains(word),
            "{word:?} not in the transcript {text:?}"
        );
    }

    // dynamodb-predict: scikit-learn's answers on 0, 1 and 3; 2 dead-lettered.
    let get = |id: String| {
        let dynamodb = dynamodb.clone();
        let table = table.clone();
        async move {
            dynamodb
                .get_item()
                .table_name(table)
                .key("id", AttributeValue::S(id))
                .consistent_read(true)
                .send()
                .await
                .expect("get item")
                .item
                .unwrap_or_default()
        }
    };
    let dead_letter_ref = &dead_letter;
    let dead = processes
        .wait_for("a dead-letter line", || async move {
            let text = std::fs::read_to_string(dead_letter_ref).ok()?;
            let lines: Vec<Value> = text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            (!lines.is_empty()).then_some(lines)
        })
        .await;
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0]["function"], "dynamodb-predict");
    // From the failed record on: p2's INSERT first, then whatever followed it in its
    // batch (p3's INSERT, and the MODIFY records of the function's own writes when
    // those arrived in the same batch: they are skipped by the loop guard, not lost).
    let records = dead[0]["event"]["Records"].as_array().expect("records");
    let ids = |event_name: Option<&str>| -> Vec<&str> {
        records
            .iter()
            .filter(|r| event_name.is_none_or(|name| r["eventName"] == name))
            .filter_map(|r| r["dynamodb"]["Keys"]["id"]["S"].as_str())
            .collect()
    };
    assert_eq!(
        ids(None).first(),
        Some(&"p2"),
        "retried from the failed record: {:?}",
        ids(None)
    );
    let inserts = ids(Some("INSERT"));
    assert!(
        !inserts.contains(&"p0") && !inserts.contains(&"p1"),
        "records before the failed one are not retried: {inserts:?}"
    );

    for (i, row) in rows.iter().enumerate() {
        let item = get(format!("p{i}")).await;
        if i == 2 {
            assert!(!item.contains_key("prediction"), "{item:?}");
            continue;
        }
        let prediction = item
            .get("prediction")
            .and_then(|p| p.as_m().ok())
            .unwrap_or_else(|| panic!("p{i} has no prediction: {item:?}{}", processes.logs()));
        assert_eq!(
            prediction["label"].as_s().expect("label"),
            row["label"].as_str().expect("expected label"),
            "p{i}"
        );
        let score: f64 = prediction["score"]
            .as_n()
            .expect("score")
            .parse()
            .expect("a number");
        let want = row["score"].as_f64().expect("expected score");
        assert!((score - want).abs() <= 1e-5, "p{i}: {score} vs {want}");
    }
    // Each prediction was written once: one MODIFY record per predicted item, although
    // p3 was delivered again with p2 and the writes came back through the stream.
    let records = tokio::time::timeout(WAIT, StreamReader::new(&moto_endpoint()).records(&stream))
        .await
        .expect("reading the stream ends")
        .expect("stream records");
    let mut writes: Vec<&str> = records
        .iter()
        .filter(|r| r["eventName"] == "MODIFY")
        .filter_map(|r| r["dynamodb"]["Keys"]["id"]["S"].as_str())
        .collect();
    writes.sort_unstable();
    assert_eq!(writes, ["p0", "p1", "p3"], "{}", processes.logs());

    // docs/local-development.md's "one event by hand": a sample event whose object is
    // not in moto is answered, and the object reported as gone, not an error.
    let invoked = Command::new(cargo_lambda())
        .args([
            "lambda",
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(runtime_port.to_string())
        .args([
            "s3-thumbnail",
            "--data-file",
            "blueprints/s3-thumbnail/events/put-with-space.json",
        ])
        .current_dir(&root)
        .output()
        .expect("cargo lambda invoke");
    let reply = String::from_utf8_lossy(&invoked.stdout);
    assert!(
        invoked.status.success(),
        "{reply}{}",
        String::from_utf8_lossy(&invoked.stderr)
    );
    assert!(
        reply.contains(r#""outcome":"skipped","reason":"deleted since the event""#),
        "{reply}"
    );
    let _ = std::fs::remove_dir_all(&processes.dir);
}
