//! The prediction blueprint against a real moto table and stream, and a real
//! `algo-server` serving the models `make models` trained.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::Event;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::StatusCode;
use blueprint_core::{AlgorithmClient, ApiKey, RetryPolicy};
use blueprint_testkit::{
    AlgoServer, FailRule, Gateway, StreamReader, lambda_event, moto_endpoint, table_with_stream,
    workspace_root,
};
use dynamodb_predict::{Predictor, Settings, handle_batch};
use serde_json::{Value, json};

const MODEL: &str = "breast-cancer/1.0.0";

struct Expected {
    features: Vec<String>,
    rows: Vec<Value>,
}

fn expected() -> Expected {
    let dir = workspace_root().join("models/predict/breast-cancer/1.0.0");
    let read = |name: &str| -> Value {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `make models` first", path.display()));
        serde_json::from_str(&text).expect("JSON")
    };
    let manifest = read("manifest.json");
    let features = manifest["features"]
        .as_array()
        .expect("manifest features")
        .iter()
        .map(|f| f["name"].as_str().expect("feature name").to_owned())
        .collect();
    let rows = read("expected.json")
        .as_array()
        .cloned()
        .expect("expected rows");
    Expected { features, rows }
}

struct World {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    stream_arn: String,
    reader: StreamReader,
    server: AlgoServer,
    expected: Expected,
}

async fn world() -> World {
    let config = blueprint_testkit::moto_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let (table, stream_arn) = table_with_stream(&dynamodb, "patients").await;
    World {
        dynamodb,
        table,
        stream_arn,
        reader: StreamReader::new(&moto_endpoint()),
        server: AlgoServer::start(&[]),
        expected: expected(),
    }
}

fn predictor(world: &World, api: &str, extra: &[(&str, &str)]) -> Predictor {
    let mut env: HashMap<String, String> = HashMap::from([
        ("ALGORITHMIA_API".into(), api.to_owned()),
        ("ALGORITHMIA_API_KEY".into(), "simAnyKey".into()),
        ("MODEL".into(), MODEL.into()),
        ("FEATURES".into(), world.expected.features.join(",")),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_env(|k| env.get(k).cloned()).expect("settings");
    let algorithms = AlgorithmClient::new(&settings.algorithmia, ApiKey::new("simAnyKey"))
        .expect("client")
        .with_retry(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        });
    Predictor {
        settings,
        algorithms,
        dynamodb: world.dynamodb.clone(),
    }
}

fn item(world: &World, id: &str, row: &Value) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([("id".to_owned(), AttributeValue::S(id.to_owned()))]);
    for name in &world.expected.features {
        let value = row["features"][name].as_f64().expect("feature value");
        item.insert(name.clone(), AttributeValue::N(value.to_string()));
    }
    item
}

async fn put(world: &World, item: HashMap<String, AttributeValue>) {
    world
        .dynamodb
        .put_item()
        .table_name(&world.table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put item");
}

async fn get(world: &World, id: &str) -> Option<HashMap<String, AttributeValue>> {
    world
        .dynamodb
        .get_item()
        .table_name(&world.table)
        .key("id", AttributeValue::S(id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
}

async fn all_items(world: &World, count: usize) -> Vec<Option<HashMap<String, AttributeValue>>> {
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        items.push(get(world, &format!("p{i}")).await);
    }
    items
}

/// Stream records not seen before, as the event Lambda would deliver.
async fn new_records(world: &World, seen: &mut usize) -> Event {
    let records = world
        .reader
        .records(&world.stream_arn)
        .await
        .expect("stream records");
    let fresh = &records[*seen..];
    *seen = records.len();
    serde_json::from_value(lambda_event(fresh, &world.stream_arn)).expect("a DynamoDB event")
}

/// Puts `count` items named `prefix0`.. and returns the stream batch they make, with
/// the records' sequence numbers.
async fn fresh_batch(world: &World, prefix: &str, count: usize) -> (Event, Vec<String>) {
    for i in 0..count {
        put(
            world,
            item(world, &format!("{prefix}{i}"), &world.expected.rows[i]),
        )
        .await;
    }
    let event = new_records(world, &mut 0).await;
    let sequence_numbers = event
        .records
        .iter()
        .map(|r| r.change.sequence_number.clone().expect("sequence number"))
        .collect();
    (event, sequence_numbers)
}

/// The sequence numbers a response reports for retry.
fn reported(response: &aws_lambda_events::streams::DynamoDbEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().expect("identifier"))
        .collect()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

fn prediction(item: &HashMap<String, AttributeValue>) -> &HashMap<String, AttributeValue> {
    item.get("prediction")
        .and_then(|p| p.as_m().ok())
        .expect("a prediction map")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_match_scikit_learn_and_own_writes_cause_nothing() {
    let world = world().await;
    let rows: Vec<Value> = world.expected.rows.iter().take(40).cloned().collect();
    for (i, row) in rows.iter().enumerate() {
        put(&world, item(&world, &format!("p{i}"), row)).await;
    }
    let mut seen = 0;
    let event = new_records(&world, &mut seen).await;
    assert_eq!(event.records.len(), rows.len());
    let gateway = Gateway::start(&world.server.url, Arc::new(|_: &[u8]| None)).await;
    let predictor = predictor(&world, &gateway.url, &[]);
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        gateway.counters.calls.load(Ordering::SeqCst),
        1,
        "one batched call"
    );

    for (i, row) in rows.iter().enumerate() {
        let item = get(&world, &format!("p{i}")).await.expect("item");
        let p = prediction(&item);
        assert_eq!(p["model"].as_s().expect("model"), MODEL);
        assert_eq!(
            p["label"].as_s().expect("label"),
            row["label"].as_str().expect("expected label"),
            "row {i}"
        );
        let score: f64 = p["score"].as_n().expect("score").parse().expect("number");
        let want = row["score"].as_f64().expect("expected score");
        assert!((score - want).abs() <= 1e-5, "row {i}: {score} vs {want}");
    }
    let before = all_items(&world, rows.len()).await;

    // The writes come back as MODIFY records: no call, no write.
    let own_writes = new_records(&world, &mut seen).await;
    assert_eq!(own_writes.records.len(), rows.len());
    assert!(own_writes.records.iter().all(|r| r.event_name == "MODIFY"));
    let response = handle_batch(own_writes, soon(), &predictor)
        .await
        .expect("handled");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        gateway.counters.calls.load(Ordering::SeqCst),
        1,
        "no new call"
    );
    let after = all_items(&world, rows.len()).await;
    assert_eq!(before, after, "no write");

    // REMOVE does nothing.
    world
        .dynamodb
        .delete_item()
        .table_name(&world.table)
        .key("id", AttributeValue::S("p0".into()))
        .send()
        .await
        .expect("delete");
    let removal = new_records(&world, &mut seen).await;
    assert_eq!(removal.records[0].event_name, "REMOVE");
    handle_batch(removal, soon(), &predictor)
        .await
        .expect("handled");
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 1);
    assert!(get(&world, "p0").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_item_is_not_resurrected_and_a_changed_one_not_overwritten() {
    let world = world().await;
    let rows = &world.expected.rows;
    put(&world, item(&world, "gone", &rows[0])).await;
    put(&world, item(&world, "changed", &rows[1])).await;
    put(&world, item(&world, "kept", &rows[2])).await;
    let mut seen = 0;
    let event = new_records(&world, &mut seen).await;
    world
        .dynamodb
        .delete_item()
        .table_name(&world.table)
        .key("id", AttributeValue::S("gone".into()))
        .send()
        .await
        .expect("delete");
    put(&world, item(&world, "changed", &rows[3])).await;

    let predictor = predictor(&world, &world.server.url, &[]);
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert!(response.batch_item_failures.is_empty());
    assert!(get(&world, "gone").await.is_none(), "not resurrected");
    let changed = get(&world, "changed").await.expect("item");
    assert!(!changed.contains_key("prediction"), "the newer write wins");
    assert!(
        get(&world, "kept")
            .await
            .expect("item")
            .contains_key("prediction")
    );
}

fn poison_rule(marker: &'static str) -> FailRule {
    Arc::new(move |body: &[u8]| {
        String::from_utf8_lossy(body).contains(marker).then(|| {
            (
                StatusCode::OK,
                json!({"error": {"message": "instance rejected: value out of range",
                                 "error_type": "InputError"}})
                .to_string(),
            )
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_found_by_splitting_and_only_it_is_skipped() {
    let world = world().await;
    let rows = &world.expected.rows;
    for (i, row) in rows.iter().take(8).enumerate() {
        let mut item = item(&world, &format!("r{i}"), row);
        if i == 5 {
            let first = world.expected.features[0].clone();
            item.insert(first, AttributeValue::N("987654.321".into()));
        }
        put(&world, item).await;
    }
    let mut seen = 0;
    let event = new_records(&world, &mut seen).await;
    let gateway = Gateway::start(&world.server.url, poison_rule("987654.321")).await;
    let predictor = predictor(&world, &gateway.url, &[]);
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert!(
        response.batch_item_failures.is_empty(),
        "a poison record is skipped, not retried"
    );
    for i in 0..8 {
        let has = get(&world, &format!("r{i}"))
            .await
            .expect("item")
            .contains_key("prediction");
        assert_eq!(has, i != 5, "r{i}");
    }
    // 8 -> 4+4 -> 2+2 (one half fine) -> 1+1: 1 + 2 + 2 + 2 calls.
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 7);
}

/// A server that lacks its models answers `AlgorithmError` inside HTTP 200: that is the
/// server's trouble, not the records'. Every record is reported for retry (so it ends
/// in the failure destination if the models never come), none is bisected or skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_models_fails_the_batch_for_retry_and_skips_nothing() {
    let world = world().await;
    let (event, sequence_numbers) = fresh_batch(&world, "m", 6).await;
    let empty = std::env::temp_dir().join(blueprint_testkit::unique("no-models"));
    std::fs::create_dir_all(&empty).expect("empty models dir");
    let bare = AlgoServer::start(&["--models-dir", empty.to_str().expect("UTF-8 path")]);
    let gateway = Gateway::start(&bare.url, Arc::new(|_: &[u8]| None)).await;
    let predictor = predictor(&world, &gateway.url, &[]);
    let logs = blueprint_testkit::CapturedLogs::start();
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert_eq!(
        reported(&response),
        sequence_numbers,
        "every record is retried"
    );
    assert_eq!(
        gateway.counters.calls.load(Ordering::SeqCst),
        1,
        "one call, no bisection against a server in trouble"
    );
    // Other tests log into the same buffer: look at this batch's records only.
    let text = logs.text();
    for sequence_number in &sequence_numbers {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(sequence_number.as_str()))
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("will be retried") && l.contains("AlgorithmError")),
            "{sequence_number} is retried, with the kind named: {lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains("rejected")),
            "{sequence_number} is not dropped: {lines:?}"
        );
    }
    for i in 0..6 {
        assert!(
            !get(&world, &format!("m{i}"))
                .await
                .expect("item")
                .contains_key("prediction")
        );
    }
    let _ = std::fs::remove_dir_all(&empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_reported_by_sequence_number() {
    let world = world().await;
    let (event, sequence_numbers) = fresh_batch(&world, "t", 3).await;
    let gateway = Gateway::start(
        &world.server.url,
        Arc::new(|_: &[u8]| Some((StatusCode::SERVICE_UNAVAILABLE, String::new()))),
    )
    .await;
    let predictor = predictor(&world, &gateway.url, &[]);
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert_eq!(reported(&response), sequence_numbers);
    for i in 0..3 {
        assert!(
            !get(&world, &format!("t{i}"))
                .await
                .expect("item")
                .contains_key("prediction")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_records_take_at_most_five_calls() {
    let world = world().await;
    let rows = &world.expected.rows;
    let items: Vec<_> = (0..500)
        .map(|i| item(&world, &format!("b{i}"), &rows[i % rows.len()]))
        .collect();
    for chunk in items.chunks(25) {
        let requests = chunk
            .iter()
            .map(|item| {
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .expect("put request"),
                    )
                    .build()
            })
            .collect();
        world
            .dynamodb
            .batch_write_item()
            .request_items(&world.table, requests)
            .send()
            .await
            .expect("batch write");
    }
    let mut seen = 0;
    let event = new_records(&world, &mut seen).await;
    assert_eq!(event.records.len(), 500);
    let gateway = Gateway::start(&world.server.url, Arc::new(|_: &[u8]| None)).await;
    let predictor = predictor(&world, &gateway.url, &[("MAX_BATCH_SIZE", "100")]);
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert!(response.batch_item_failures.is_empty());
    assert!(gateway.counters.calls.load(Ordering::SeqCst) <= 5);
    assert!(
        get(&world, "b499")
            .await
            .expect("item")
            .contains_key("prediction")
    );
}
