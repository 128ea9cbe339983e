//! The prediction blueprint against a real moto table and stream, and a real
//! `algo-server` serving the models `make models` trained.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::Event;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::StatusCode;
use blueprint_core::metrics::{Metrics, names};
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
    // Measured as `main` measures each invocation: one EMF line each.
    let (metrics, emitted) = Metrics::in_memory("dynamodb-predict", "predict-fn");
    let response = metrics
        .measure(handle_batch(event, soon(), &predictor))
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
    let response = metrics
        .measure(handle_batch(own_writes, soon(), &predictor))
        .await
        .expect("handled");
    assert!(response.batch_item_failures.is_empty());
    // The first invocation predicted every record in one call; the second skipped
    // every record (its own writes) and called nothing.
    let lines = emitted.documents();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let count = |line: usize, name: &str| lines[line][name].as_u64();
    assert_eq!(lines[0]["FunctionName"], "predict-fn");
    assert_eq!(lines[0]["Blueprint"], "dynamodb-predict");
    assert_eq!(count(0, names::RECORDS_DONE), Some(rows.len() as u64));
    assert_eq!(count(0, names::RECORDS_FAILED), Some(0));
    assert_eq!(count(0, names::ALGORITHM_CALLS), Some(1));
    assert_eq!(count(0, names::ALGORITHM_CALL_RETRIES), Some(0));
    assert_eq!(count(1, names::RECORDS_SKIPPED), Some(rows.len() as u64));
    assert_eq!(count(1, names::RECORDS_DONE), Some(0));
    assert_eq!(count(1, names::ALGORITHM_CALLS), Some(0));
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
        // moto numbers every table's stream alike: other tests' records share these
        // numbers, so only lines about this server's failure count.
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("rejected") && l.contains("cannot run")),
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

/// The attributes `f0`..`f29`, which the model knows by other names.
fn table_names(world: &World) -> Vec<String> {
    (0..world.expected.features.len())
        .map(|i| format!("f{i}"))
        .collect()
}

/// Puts `count` items with the model's features under the attribute names `names`
/// (in the model's order) and returns the stream batch they make.
async fn batch_under_names(
    world: &World,
    prefix: &str,
    count: usize,
    names: &[String],
) -> (Event, Vec<String>) {
    for (i, row) in world.expected.rows.iter().take(count).enumerate() {
        let mut item =
            HashMap::from([("id".to_owned(), AttributeValue::S(format!("{prefix}{i}")))]);
        for (attribute, feature) in names.iter().zip(&world.expected.features) {
            let value = row["features"][feature].as_f64().expect("feature value");
            item.insert(attribute.clone(), AttributeValue::N(value.to_string()));
        }
        put(world, item).await;
    }
    let event = new_records(world, &mut 0).await;
    let sequence_numbers = event
        .records
        .iter()
        .map(|r| r.change.sequence_number.clone().expect("sequence number"))
        .collect();
    (event, sequence_numbers)
}

async fn assert_predicted_as_expected(world: &World, prefix: &str, count: usize) {
    for (i, row) in world.expected.rows.iter().take(count).enumerate() {
        let item = get(world, &format!("{prefix}{i}")).await.expect("item");
        assert_eq!(
            prediction(&item)["label"].as_s().expect("label"),
            row["label"].as_str().expect("expected label"),
            "{prefix}{i}"
        );
    }
}

/// The README's own example: a table whose attributes are `f0`..`f29` and
/// `MODEL=breast-cancer`. `FEATURES` maps them to the model's inputs by position, so
/// every record is predicted (before, each was sent keyed by its attribute names and
/// skipped as "feature mean_radius is missing").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_named_unlike_the_models_features_are_fed_by_position() {
    let world = world().await;
    let names = table_names(&world);
    let (event, _) = batch_under_names(&world, "pos", 12, &names).await;
    let gateway = Gateway::start(&world.server.url, Arc::new(|_: &[u8]| None)).await;
    let predictor = predictor(&world, &gateway.url, &[("FEATURES", &names.join(","))]);
    assert_eq!(
        predictor
            .check_model()
            .await
            .expect("FEATURES fits the model"),
        dynamodb_predict::ModelCheck::Verified {
            model: MODEL.into(),
            features: names.len()
        }
    );
    let before = gateway.counters.calls.load(Ordering::SeqCst);
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst) - before, 1);
    assert_predicted_as_expected(&world, "pos", 12).await;
}

/// The explicit form `attribute=feature`, in any order, sends named instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_mapped_by_name_are_fed_to_their_features() {
    let world = world().await;
    let names = table_names(&world);
    let (event, _) = batch_under_names(&world, "named", 6, &names).await;
    let mut pairs: Vec<String> = names
        .iter()
        .zip(&world.expected.features)
        .map(|(a, f)| format!("{a}={f}"))
        .collect();
    pairs.reverse();
    let mapped = predictor(&world, &world.server.url, &[("FEATURES", &pairs.join(","))]);
    assert!(matches!(
        mapped.check_model().await,
        Ok(dynamodb_predict::ModelCheck::Verified { .. })
    ));
    let response = handle_batch(event, soon(), &mapped).await.expect("handled");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_predicted_as_expected(&world, "named", 6).await;

    // A name the model does not take stops the cold start, naming both settings.
    pairs[0] = "f29=mean_radiance".into();
    let wrong = predictor(&world, &world.server.url, &[("FEATURES", &pairs.join(","))]);
    let err = wrong.check_model().await.expect_err("unknown feature");
    let message = err.to_string();
    assert!(
        message.contains("FEATURES names features the model does not take (mean_radiance)")
            && message.contains("MODEL"),
        "{message}"
    );
}

/// A `FEATURES` one attribute short: the cold start stops with a message naming
/// `FEATURES` and `MODEL`; and where the endpoint could not be asked, the first batch
/// fails for retry as a configuration error instead of skipping every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_features_list_of_the_wrong_length_is_a_configuration_error() {
    let world = world().await;
    let names = table_names(&world);
    let short = names[..names.len() - 1].join(",");
    let (event, sequence_numbers) = batch_under_names(&world, "short", 8, &names).await;
    let gateway = Gateway::start(&world.server.url, Arc::new(|_: &[u8]| None)).await;
    let predictor = predictor(&world, &gateway.url, &[("FEATURES", &short)]);
    let message = predictor
        .check_model()
        .await
        .expect_err("29 attributes for 30 features")
        .to_string();
    assert!(
        message.starts_with("FEATURES lists 29 attributes, but MODEL \"breast-cancer/1.0.0\"")
            && message.contains("takes 30 features, in this order: mean_radius,"),
        "{message}"
    );

    let before = gateway.counters.calls.load(Ordering::SeqCst);
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert_eq!(
        reported(&response),
        sequence_numbers,
        "every record is retried, none dropped"
    );
    assert_eq!(
        gateway.counters.calls.load(Ordering::SeqCst) - before,
        3,
        "the chunk and its two halves, no bisection down to single records"
    );
    for i in 0..8 {
        assert!(
            !get(&world, &format!("short{i}"))
                .await
                .expect("item")
                .contains_key("prediction")
        );
    }
}

/// A `MODEL` the endpoint does not serve: the cold start names `MODEL`; a batch fails
/// for retry, whatever its size and `MAX_BATCH_SIZE`, with a message naming the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_model_fails_the_cold_start_and_every_batch_for_retry() {
    let world = world().await;
    let names = table_names(&world);
    let (event, sequence_numbers) = batch_under_names(&world, "wm", 9, &names).await;
    let gateway = Gateway::start(&world.server.url, Arc::new(|_: &[u8]| None)).await;
    let extra = [
        ("FEATURES", names.join(",")),
        ("MODEL", "breast-cancr".to_owned()),
        ("MAX_BATCH_SIZE", "4".to_owned()),
    ];
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let predictor = predictor(&world, &gateway.url, &extra);
    let message = predictor
        .check_model()
        .await
        .expect_err("no such model")
        .to_string();
    assert!(
        message.starts_with("MODEL is \"breast-cancr\"")
            && message.contains("no model named \"breast-cancr\""),
        "{message}"
    );

    let logs = blueprint_testkit::CapturedLogs::start();
    let before = gateway.counters.calls.load(Ordering::SeqCst);
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert_eq!(reported(&response), sequence_numbers);
    assert_eq!(
        gateway.counters.calls.load(Ordering::SeqCst) - before,
        3,
        "the first chunk and its halves; the other chunks share the verdict"
    );
    let text = logs.text();
    for sequence_number in &sequence_numbers {
        assert!(
            text.lines().any(|l| l.contains(sequence_number.as_str())
                && l.contains("will be retried")
                && l.contains("check MODEL (\"breast-cancr\")")),
            "{sequence_number} is retried with the setting named"
        );
    }
}

/// An endpoint that cannot describe models (it refuses `describe` as an unknown field,
/// as an Algorithmia-hosted Predict would): the cold start still catches an unknown
/// `MODEL` with an empty call, and otherwise leaves the check to the first calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_describe_the_cold_start_checks_what_it_can() {
    let world = world().await;
    let no_describe: FailRule = Arc::new(|body: &[u8]| {
        String::from_utf8_lossy(body).contains("\"describe\"").then(|| {
            (
                StatusCode::OK,
                json!({"error": {"message": "input field `describe` is not known; send `model` and `instances`",
                                 "error_type": "InputError"}})
                .to_string(),
            )
        })
    });
    let gateway = Gateway::start(&world.server.url, no_describe).await;
    let names = table_names(&world).join(",");
    let fine = predictor(&world, &gateway.url, &[("FEATURES", &names)]);
    assert!(
        matches!(
            fine.check_model().await,
            Ok(dynamodb_predict::ModelCheck::Unverified { ref reason }) if reason.contains("does not describe models")
        ),
        "unknown, not wrong"
    );
    let unknown = predictor(
        &world,
        &gateway.url,
        &[("FEATURES", &names), ("MODEL", "nope")],
    );
    let message = unknown
        .check_model()
        .await
        .expect_err("unknown model")
        .to_string();
    assert!(message.starts_with("MODEL is \"nope\""), "{message}");
}

/// A reply over `ALGORITHMIA_MAX_REPLY_BYTES` (a gateway sending 2 MB) fails the
/// records for retry with the setting named; nothing is written or dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_over_the_cap_fails_the_records_naming_the_setting() {
    let world = world().await;
    let (event, sequence_numbers) = fresh_batch(&world, "cap", 3).await;
    let huge: FailRule = Arc::new(|_: &[u8]| {
        Some((
            StatusCode::OK,
            json!({"result": {"model": "m", "predictions": [], "padding": "x".repeat(2_000_000)},
                   "metadata": {"content_type": "json", "duration": 0.1}})
            .to_string(),
        ))
    });
    let gateway = Gateway::start(&world.server.url, huge).await;
    let predictor = predictor(
        &world,
        &gateway.url,
        &[("ALGORITHMIA_MAX_REPLY_BYTES", "100000")],
    );
    let logs = blueprint_testkit::CapturedLogs::start();
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert_eq!(reported(&response), sequence_numbers);
    assert_eq!(
        gateway.counters.calls.load(Ordering::SeqCst),
        1,
        "not retried"
    );
    assert!(
        logs.text()
            .contains("over ALGORITHMIA_MAX_REPLY_BYTES (100000 bytes)"),
        "the setting is named"
    );
    for i in 0..3 {
        assert!(
            !get(&world, &format!("cap{i}"))
                .await
                .expect("item")
                .contains_key("prediction")
        );
    }
}

/// An item so close to DynamoDB's 400 KB limit that the prediction would push it over
/// is rejected before the write (moto only refuses past 405,000 bytes, so without the
/// project's own check this write would succeed here and fail on AWS forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_the_prediction_would_push_over_400_kb_is_rejected_unwritten() {
    let world = world().await;
    let mut big = item(&world, "big0", &world.expected.rows[0]);
    big.insert("notes".into(), AttributeValue::S("n".repeat(399_500)));
    put(&world, big).await;
    put(&world, item(&world, "big1", &world.expected.rows[1])).await;
    let event = new_records(&world, &mut 0).await;
    let predictor = predictor(&world, &world.server.url, &[]);
    let logs = blueprint_testkit::CapturedLogs::start();
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert!(
        response.batch_item_failures.is_empty(),
        "rejected, not retried: {response:?}"
    );
    assert!(
        !get(&world, "big0")
            .await
            .expect("item")
            .contains_key("prediction")
    );
    assert!(
        get(&world, "big1")
            .await
            .expect("item")
            .contains_key("prediction")
    );
    assert!(
        logs.text()
            .contains("over DynamoDB's 400 KB item limit (400000 bytes); retrying cannot help"),
        "the limit is named"
    );
}

/// A prediction DynamoDB cannot hold as a number (a regressor answering 1e200) is
/// rejected before the write, naming the range; moto would store it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prediction_out_of_dynamodbs_number_range_is_rejected_unwritten() {
    let world = world().await;
    let (event, _) = fresh_batch(&world, "range", 2).await;
    let huge_values: FailRule = Arc::new(|body: &[u8]| {
        let request: Value = serde_json::from_slice(body).ok()?;
        let count = request["instances"].as_array()?.len();
        Some((
            StatusCode::OK,
            json!({"result": {"model": MODEL, "predictions": vec![json!({"value": 1e200}); count]},
                   "metadata": {"content_type": "json", "duration": 0.01}})
            .to_string(),
        ))
    });
    let gateway = Gateway::start(&world.server.url, huge_values).await;
    let predictor = predictor(&world, &gateway.url, &[]);
    let logs = blueprint_testkit::CapturedLogs::start();
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    for i in 0..2 {
        assert!(
            !get(&world, &format!("range{i}"))
                .await
                .expect("item")
                .contains_key("prediction")
        );
    }
    assert!(
        logs.text().contains(
            "the prediction's value 1e200 is outside DynamoDB's number range (magnitudes from 1E-130 to 9.99E+125, or 0)"
        ),
        "the range is named"
    );
}
