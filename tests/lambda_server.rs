//! `algo-server` as a Lambda function (`algo-server-lambda`), called through its
//! Function URL as the blueprints call it on AWS: cargo-lambda's emulator
//! (`cargo lambda watch --only-lambda-apis`) turns `/lambda-url/algo-server/...` into
//! Function URL events for two running instances of the real binary (two, as Lambda
//! would scale out: the `output=void` job one instance queues through the emulated
//! Invoke API is run by the other). The three blueprint binaries are driven by
//! `local-trigger` from moto: a thumbnail (SmartThumbnail), an asynchronous
//! transcription that is queued as a job, completes and is rendered (SpeechToText),
//! and predictions written to their items (Predict); FaceDetection and Echo are called
//! directly, with the Function URL's limits.
//!
//! IAM: a third instance runs with `ALGO_SERVER_AUTH=iam`. The emulator checks no
//! signatures and adds no IAM identity to its events, so what can be checked here is
//! the function's side: a Function URL event without an IAM identity is refused, and
//! one carrying the identity AWS adds after checking a signature is served.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use blueprint_testkit::{
    moto_config, moto_endpoint, table_with_stream, unique, workspace_bin, workspace_root,
};
use local_trigger::AwsJson;
use serde_json::{Value, json};
use system_tests::{
    Processes, body, keys, local_trigger_bin, model_features, notify, read_json, start_function,
};

const KEY: &str = "simLambdaUrlKey0123";
const MODEL: &str = "breast-cancer/1.0.0";
const IAM_FUNCTION: &str = "algo-server-lambda";

/// Starts one instance of `algo-server-lambda` as the function `function`.
fn start_algo_server(
    processes: &mut Processes,
    runtime: &str,
    function: &str,
    instance: &str,
    env: &[(&str, &str)],
) {
    let path = workspace_bin("algo-server-lambda");
    assert!(
        path.exists(),
        "{} is missing: `cargo test --workspace --no-run` builds it (make test does)",
        path.display()
    );
    let mut command = Command::new(path);
    command
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("{runtime}/.rt/{function}"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        // The Invoke API that `output=void` jobs are queued through: the emulator's.
        .env("AWS_ENDPOINT_URL_LAMBDA", runtime)
        .env("WHISPER_MODEL", "models/ggml-tiny.en-q8_0.bin")
        .env("WHISPER_THREADS", "1")
        .env("ALGO_SERVER_MODELS_DIR", "models")
        .env("ALGO_SERVER_WORKERS", "1")
        // moto's presigned URLs are on 127.0.0.1.
        .env("ALGO_SERVER_ALLOW_FETCH_HOSTS", "127.0.0.1")
        .env("RUST_LOG", "info")
        .env_remove("ALGO_SERVER_API_KEYS")
        .env_remove("ALGO_SERVER_AUTH")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    processes.start(instance, &mut command);
}

async fn call(url: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(url)
        .header("authorization", format!("Simple {KEY}"))
        .header("content-type", content_type)
        .body(body)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("a call through the Function URL");
    let status = reply.status().as_u16();
    let text = reply.text().await.expect("reply body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text}));
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blueprints_call_algo_server_on_lambda_through_its_function_url() {
    let root = workspace_root();
    let config = moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = AwsJson::new(&moto_endpoint());

    let images = unique("url-images");
    let media = unique("url-media");
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
    let (table, stream) = table_with_stream(&dynamodb, "url-patients").await;
    let features = model_features(MODEL);
    let rows = read_json(&root.join(format!("models/predict/{MODEL}/expected.json")));
    let rows = &rows.as_array().expect("expected rows")[..2];

    let mut processes = Processes::new();
    let (_, runtime) = processes.start_runtime_api();
    for instance in ["algo-server-1", "algo-server-2"] {
        let keys = [("ALGO_SERVER_API_KEYS", KEY)];
        start_algo_server(&mut processes, &runtime, "algo-server", instance, &keys);
    }
    start_algo_server(
        &mut processes,
        &runtime,
        // The emulator serves only function names that are binaries of the workspace.
        IAM_FUNCTION,
        "algo-server-iam",
        &[("ALGO_SERVER_AUTH", "iam")],
    );
    let function_url = format!("{runtime}/lambda-url/algo-server");
    let common = [
        ("ALGORITHMIA_API", function_url.clone()),
        ("ALGORITHMIA_API_KEY", KEY.to_owned()),
    ];
    start_function(
        &mut processes,
        &runtime,
        "s3-thumbnail",
        "s3-thumbnail",
        &[common.as_slice(), &[("THUMBNAIL_SIZES", "200x200".into())]].concat(),
    );
    start_function(
        &mut processes,
        &runtime,
        "s3-transcribe",
        "s3-transcribe",
        &[common.as_slice(), &[("TRANSCRIBE_MODE", "async".into())]].concat(),
    );
    start_function(
        &mut processes,
        &runtime,
        "dynamodb-predict",
        "dynamodb-predict",
        &[
            common.as_slice(),
            &[("MODEL", MODEL.into()), ("FEATURES", features.join(","))],
        ]
        .concat(),
    );
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
            .arg(processes.dir.join("dead-letter.jsonl"))
            .env("RUST_LOG", "info"),
    );

    let photo = "uploads/astronaut.jpg";
    let video = "media/hello.mp4";
    let jpeg = std::fs::read(root.join("fixtures/images/astronaut.jpg")).expect("astronaut.jpg");
    s3.put_object()
        .bucket(&images)
        .key(photo)
        .content_type("image/jpeg")
        .body(ByteStream::from(jpeg.clone()))
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
    for (i, row) in rows.iter().enumerate() {
        let mut item = HashMap::from([("id".to_owned(), AttributeValue::S(format!("p{i}")))]);
        for name in &features {
            let value = row["features"][name].as_f64().expect("feature value");
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

    // FaceDetection and Echo, called directly through the Function URL.
    let (status, faces) = call(
        &format!("{function_url}/v1/algo/blueprints/FaceDetection/1.0.0"),
        "application/octet-stream",
        jpeg,
    )
    .await;
    assert_eq!(status, 200, "{faces}");
    let boxes = faces["result"]["faces"]
        .as_array()
        .unwrap_or_else(|| panic!("no faces in {faces}{}", processes.logs()));
    assert_eq!(boxes.len(), 1, "{faces}");
    let (status, echoed) = call(
        &format!("{function_url}/v1/algo/blueprints/Echo"),
        "application/json",
        br#"{"hello": "lambda"}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (status, &echoed["result"]),
        (200, &json!({"hello": "lambda"}))
    );

    // The Function URL's limits, as clear errors: a reply over its 6 MB (binary
    // replies travel base64-encoded), and an output=void body over the 256 KB an
    // asynchronous invocation holds.
    let (status, too_big) = call(
        &format!("{function_url}/v1/algo/blueprints/Echo"),
        "application/octet-stream",
        vec![7u8; 5 * 1024 * 1024],
    )
    .await;
    assert_eq!(status, 200, "{too_big}");
    assert_eq!(too_big["error"]["error_type"], "InputError", "{too_big}");
    let message = too_big["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("over the 6 MB a Lambda Function URL can answer"),
        "{message}"
    );
    let (status, refused) = call(
        &format!("{function_url}/v1/algo/blueprints/SpeechToText?output=void"),
        "application/octet-stream",
        vec![0u8; 300 * 1024],
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(message.contains("holds at most 256 KB"), "{message}");

    // s3-thumbnail through the URL.
    let thumbnail = format!("thumbnails/200x200/{photo}");
    let (s3_ref, images_ref, thumbnail_ref) = (&s3, &images, &thumbnail);
    processes
        .wait_for("a thumbnail", || async move {
            keys(s3_ref, images_ref, "thumbnails/")
                .await
                .contains(thumbnail_ref)
                .then_some(())
        })
        .await;
    let (bytes, content_type) = body(&s3, &images, &thumbnail).await;
    assert_eq!(content_type.as_deref(), Some("image/jpeg"));
    assert!(bytes.starts_with(&[0xFF, 0xD8]), "not a JPEG");

    // s3-transcribe, asynchronously: queued as a job, run by an instance, PUT to the
    // pending object, rendered by the blueprint into four files, the pending removed.
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
        assert!(text.contains(word), "{word:?} not in {text:?}");
    }
    let pending = processes
        .wait_for("the pending result removed", || async move {
            keys(s3_ref, media_ref, "transcripts/.pending/")
                .await
                .is_empty()
                .then_some(())
        })
        .await;
    let _: () = pending;
    let logs = processes.logs_of(&["algo-server-1", "algo-server-2"]);
    assert!(
        logs.contains("queueing an output=void call") && logs.contains("output=void call done"),
        "the transcription did not go through a queued job:{logs}"
    );

    // dynamodb-predict through the URL: scikit-learn's answers.
    for (i, row) in rows.iter().enumerate() {
        let (dynamodb_ref, table_ref) = (&dynamodb, &table);
        let item = processes
            .wait_for("a prediction", || async move {
                let item = dynamodb_ref
                    .get_item()
                    .table_name(table_ref)
                    .key("id", AttributeValue::S(format!("p{i}")))
                    .consistent_read(true)
                    .send()
                    .await
                    .ok()?
                    .item?;
                item.contains_key("prediction").then_some(item)
            })
            .await;
        let prediction = item["prediction"].as_m().expect("a map");
        assert_eq!(
            prediction["label"].as_s().expect("label"),
            row["label"].as_str().expect("expected label"),
            "p{i}"
        );
    }

    // IAM mode: the emulator's Function URL events carry no IAM identity, as an event
    // through a URL with AuthType NONE would not: refused.
    let (status, refused) = call(
        &format!("{runtime}/lambda-url/{IAM_FUNCTION}/v1/algo/blueprints/Echo"),
        "application/json",
        b"1".to_vec(),
    )
    .await;
    assert_eq!(status, 401, "{refused}");
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(message.contains("carries no IAM identity"), "{message}");
    // The event AWS delivers after checking a SigV4 signature carries the caller's
    // identity (requestContext.authorizer.iam): served.
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/algo/blueprints/Echo",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "routeKey": "$default",
            "stage": "$default",
            "requestId": "iam-1",
            "http": {"method": "POST", "path": "/v1/algo/blueprints/Echo", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "test"},
            "authorizer": {"iam": {
                "accessKey": "ASIAEXAMPLE",
                "accountId": "123456789012",
                "callerId": "AROAEXAMPLE:s3-thumbnail",
                "userArn": "arn:aws:sts::123456789012:assumed-role/s3-thumbnail-role/s3-thumbnail",
                "userId": "AROAEXAMPLE:s3-thumbnail"
            }}
        },
        "body": "{\"signed\": true}",
        "isBase64Encoded": false
    });
    let invoked = reqwest::Client::new()
        .post(format!(
            "{runtime}/2015-03-31/functions/{IAM_FUNCTION}/invocations"
        ))
        .json(&event)
        .send()
        .await
        .expect("invoke");
    let reply: Value = invoked.json().await.expect("a Function URL response");
    assert_eq!(reply["statusCode"], 200, "{reply}");
    let answer: Value =
        serde_json::from_str(reply["body"].as_str().expect("body")).expect("JSON body");
    assert_eq!(answer["result"], json!({"signed": true}), "{reply}");
    let _ = std::fs::remove_dir_all(&processes.dir);
}
