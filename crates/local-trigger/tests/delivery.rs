//! Delivery against moto (Kinesis, SQS) to a stand-in for the Runtime API emulator
//! that records each event and answers with a scripted partial batch response: the
//! retry semantics of Lambda's stream and queue sources. Needs moto (MOTO_ENDPOINT).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use base64::Engine;
use local_trigger::invoke::Invoker;
use local_trigger::sources::Delivery;
use local_trigger::{AwsJson, StreamKind};
use serde_json::{Value, json};

type Answer = Arc<dyn Fn(&Value, usize) -> Value + Send + Sync>;

#[derive(Clone)]
struct Runtime {
    events: Arc<Mutex<Vec<Value>>>,
    answer: Answer,
}

async fn invocation(
    State(runtime): State<Runtime>,
    Path(_function): Path<String>,
    Json(event): Json<Value>,
) -> Json<Value> {
    let count = {
        let mut events = runtime.events.lock().expect("events");
        events.push(event.clone());
        events.len()
    };
    Json((runtime.answer)(&event, count))
}

/// A Runtime API stand-in on a free port; its URL and the events it received.
async fn runtime(answer: Answer) -> (String, Arc<Mutex<Vec<Value>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let state = Runtime {
        events: events.clone(),
        answer,
    };
    let app = Router::new()
        .route(
            "/2015-03-31/functions/{function}/invocations",
            axum::routing::post(invocation),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), events)
}

fn moto() -> String {
    std::env::var("MOTO_ENDPOINT").expect("MOTO_ENDPOINT: run under scripts/with-moto.sh")
}

fn delivery(runtime: &str, dead_letter: &std::path::Path) -> Delivery {
    Delivery {
        invoker: Invoker::new(runtime),
        api: AwsJson::new(&moto()),
        endpoint: moto(),
        max_attempts: 3,
        dead_letter: dead_letter.to_path_buf(),
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{nanos:08x}")
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {what} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failures(ids: &[&str]) -> Value {
    json!({"batchItemFailures": ids.iter().map(|id| json!({"itemIdentifier": id})).collect::<Vec<_>>()})
}

fn kinesis_sequences(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|r| r["kinesis"]["sequenceNumber"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn kinesis_records_arrive_in_order_and_are_retried_from_the_failed_sequence_number() {
    let api = AwsJson::new(&moto());
    let stream = unique("trigger-kinesis");
    api.kinesis(
        "CreateStream",
        json!({"StreamName": stream, "ShardCount": 1}),
    )
    .await
    .expect("create stream");
    let arn = format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}");
    let mut sequences = Vec::new();
    for i in 0..5 {
        let data = base64::engine::general_purpose::STANDARD.encode(format!("{{\"n\": {i}}}"));
        let reply = api
            .kinesis(
                "PutRecord",
                json!({"StreamName": stream, "PartitionKey": "k", "Data": data}),
            )
            .await
            .expect("put record");
        sequences.push(
            reply["SequenceNumber"]
                .as_str()
                .expect("sequence")
                .to_owned(),
        );
    }
    // The first delivery fails the third record; the retry (from it) succeeds.
    let third = sequences[2].clone();
    let (url, events) = runtime(Arc::new(move |_event, count| {
        if count == 1 {
            failures(&[third.as_str()])
        } else {
            failures(&[])
        }
    }))
    .await;
    let dir = std::env::temp_dir().join(unique("trigger-dl"));
    let delivery = delivery(&url, &dir);
    let task = tokio::spawn(async move {
        delivery
            .run_stream(StreamKind::Kinesis, &arn, "f", 100)
            .await
    });
    wait_until("retry", || {
        events.lock().map(|e| e.len() >= 2).unwrap_or(false)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    task.abort();
    let events = events.lock().expect("events").clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(kinesis_sequences(&events[0]), sequences);
    assert_eq!(kinesis_sequences(&events[1]), sequences[2..]);
    let record = &events[0]["Records"][0];
    assert_eq!(record["eventSource"], "aws:kinesis");
    assert_eq!(record["kinesis"]["partitionKey"], "k");
    assert!(
        record["eventID"]
            .as_str()
            .is_some_and(|id| id.starts_with("shardId-") && id.ends_with(&sequences[0])),
        "{record}"
    );
    assert!(
        record["eventSourceARN"]
            .as_str()
            .is_some_and(|a| a.ends_with(&stream))
    );
    let data = base64::engine::general_purpose::STANDARD
        .decode(record["kinesis"]["data"].as_str().expect("data"))
        .expect("base64");
    assert_eq!(data, b"{\"n\": 0}");
    assert!(!dir.exists(), "nothing dead-lettered");
}

#[tokio::test]
async fn sqs_messages_reported_failed_are_delivered_again_alone_then_dead_lettered() {
    let api = AwsJson::new(&moto());
    let queue = api
        .sqs("CreateQueue", json!({"QueueName": unique("trigger-sqs")}))
        .await
        .expect("create queue")["QueueUrl"]
        .as_str()
        .expect("queue URL")
        .to_owned();
    for body in ["ok-1", "poison", "ok-2"] {
        api.sqs(
            "SendMessage",
            json!({"QueueUrl": queue, "MessageBody": body}),
        )
        .await
        .expect("send");
    }
    // Every event naming the poison message fails it.
    let (url, events) = runtime(Arc::new(|event: &Value, _| {
        let poison: Vec<&str> = event["Records"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter(|r| r["body"] == "poison")
                    .filter_map(|r| r["messageId"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        failures(&poison)
    }))
    .await;
    let dead_letter = std::env::temp_dir().join(format!("{}.jsonl", unique("trigger-dl")));
    let delivery = delivery(&url, &dead_letter);
    let queue_url = queue.clone();
    let task = tokio::spawn(async move { delivery.run_sqs(&queue_url, "f", 10).await });
    wait_until("the dead-letter line", || dead_letter.exists()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    task.abort();

    let events = events.lock().expect("events").clone();
    let bodies: Vec<Vec<&str>> = events
        .iter()
        .map(|e| {
            e["Records"]
                .as_array()
                .map(|r| r.iter().filter_map(|r| r["body"].as_str()).collect())
                .unwrap_or_default()
        })
        .collect();
    let first = &bodies[0];
    assert!(first.contains(&"poison"), "{bodies:?}");
    // After the first delivery, only the failed message comes again, until the attempts run out.
    let retries: Vec<&Vec<&str>> = bodies
        .iter()
        .filter(|b| b.as_slice() == ["poison"])
        .collect();
    assert_eq!(retries.len(), 2, "{bodies:?}");
    assert_eq!(events[0]["Records"][0]["eventSource"], "aws:sqs");
    assert!(
        events[0]["Records"][0]["eventSourceARN"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:sqs:")),
        "{:?}",
        events[0]
    );
    let line = std::fs::read_to_string(&dead_letter).expect("dead letter");
    assert!(
        line.contains("poison") && line.contains("still reported failed"),
        "{line}"
    );
    let _ = std::fs::remove_file(&dead_letter);
    // Everything was deleted: the queue is empty.
    let left = api
        .sqs(
            "ReceiveMessage",
            json!({"QueueUrl": queue, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}),
        )
        .await
        .expect("receive");
    assert!(
        left["Messages"].as_array().is_none_or(Vec::is_empty),
        "{left}"
    );
}
