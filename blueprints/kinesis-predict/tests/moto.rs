//! The blueprint against moto's Kinesis (source and output streams) and a real
//! `algo-server` serving the models `make models` trained: predictions as scikit-learn
//! made them, a poison record isolated, a 503 window retried by sequence number, a
//! partially failed `PutRecords` retried for its failed entries only (through a proxy
//! in front of moto that fails chosen entries: moto never fails one), each partition
//! key's order kept, and no output written twice for one delivery.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use aws_sdk_kinesis::primitives::Blob;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use blueprint_core::{AlgorithmClient, ApiKey, RetryPolicy};
use blueprint_testkit::{
    AlgoServer, FailRule, Gateway, StreamReader, lambda_event, moto_endpoint, unique,
    workspace_root,
};
use kinesis_predict::{Predictor, Settings, handle_batch};
use serde_json::{Value, json};

const MODEL: &str = "breast-cancer/1.0.0";

struct World {
    kinesis: aws_sdk_kinesis::Client,
    source: String,
    output: String,
    server: AlgoServer,
    features: Vec<String>,
    rows: Vec<Value>,
}

fn arn(stream: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}")
}

async fn world() -> World {
    let config = blueprint_testkit::moto_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let source = unique("measurements");
    let output = unique("predictions");
    for (stream, shards) in [(&source, 2), (&output, 2)] {
        kinesis
            .create_stream()
            .stream_name(stream)
            .shard_count(shards)
            .send()
            .await
            .expect("create stream");
    }
    let dir = workspace_root().join("models/predict/breast-cancer/1.0.0");
    let read = |name: &str| -> Value {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `make models` first", path.display()));
        serde_json::from_str(&text).expect("JSON")
    };
    let features = read("manifest.json")["features"]
        .as_array()
        .expect("manifest features")
        .iter()
        .map(|f| f["name"].as_str().expect("feature name").to_owned())
        .collect();
    let rows = read("expected.json").as_array().cloned().expect("rows");
    World {
        kinesis,
        source,
        output,
        server: AlgoServer::start(&[]),
        features,
        rows,
    }
}

fn predictor_with(
    world: &World,
    api: &str,
    kinesis: aws_sdk_kinesis::Client,
    extra: &[(&str, &str)],
) -> Predictor {
    let mut env: HashMap<String, String> = HashMap::from([
        ("ALGORITHMIA_API".into(), api.to_owned()),
        ("ALGORITHMIA_API_KEY".into(), "simAnyKey".into()),
        ("MODEL".into(), MODEL.into()),
        ("FEATURES".into(), world.features.join(",")),
        ("OUTPUT_STREAM".into(), arn(&world.output)),
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
        kinesis,
        put_backoff: Duration::from_millis(10),
    }
}

fn predictor(world: &World, api: &str, extra: &[(&str, &str)]) -> Predictor {
    predictor_with(world, api, world.kinesis.clone(), extra)
}

/// The JSON a producer sends for expected row `i` (with a marker field when given).
fn data(world: &World, i: usize, extra: Option<(&str, f64)>) -> Vec<u8> {
    let mut object = serde_json::Map::new();
    for name in &world.features {
        object.insert(name.clone(), world.rows[i]["features"][name].clone());
    }
    object.insert("row".into(), json!(i));
    if let Some((name, value)) = extra {
        object.insert(name.into(), json!(value));
    }
    serde_json::to_vec(&object).expect("JSON")
}

async fn put(world: &World, partition_key: &str, data: Vec<u8>) {
    world
        .kinesis
        .put_record()
        .stream_name(&world.source)
        .partition_key(partition_key)
        .data(Blob::new(data))
        .send()
        .await
        .expect("put record");
}

/// Each shard's records as Lambda delivers them: one event per shard (a batch is
/// always one shard's).
async fn batches(world: &World) -> Vec<KinesisEvent> {
    let records = StreamReader::kinesis(&moto_endpoint())
        .records(&arn(&world.source))
        .await
        .expect("read source");
    let mut shards: Vec<(String, Vec<Value>)> = Vec::new();
    for record in records {
        let shard = record["eventID"]
            .as_str()
            .and_then(|id| id.split_once(':'))
            .map(|(s, _)| s.to_owned())
            .unwrap_or_default();
        match shards.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, list)) => list.push(record),
            None => shards.push((shard, vec![record])),
        }
    }
    shards
        .into_iter()
        .map(|(_, records)| {
            serde_json::from_value(lambda_event(&records, &arn(&world.source)))
                .expect("a Kinesis event")
        })
        .collect()
}

/// Every enriched record of the output stream, shard by shard in stream order.
async fn outputs(world: &World) -> Vec<Value> {
    StreamReader::kinesis(&moto_endpoint())
        .records(&arn(&world.output))
        .await
        .expect("read output")
        .iter()
        .map(|r| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(r["kinesis"]["data"].as_str().expect("data"))
                .expect("base64");
            let mut value: Value = serde_json::from_slice(&bytes).expect("output JSON");
            value["output_partition_key"] = r["kinesis"]["partitionKey"].clone();
            value
        })
        .collect()
}

fn reported(response: &KinesisEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn sequence(output: &Value) -> u128 {
    output["source"]["sequence_number"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("source sequence number")
}

/// Per partition key, the source sequence numbers of the outputs are increasing
/// (moto numbers each shard from 1, so with the shard: one key lives on one shard).
fn assert_ordered_per_key(outputs: &[Value]) {
    let mut last: HashMap<String, u128> = HashMap::new();
    for output in outputs {
        let key = output["output_partition_key"]
            .as_str()
            .expect("key")
            .to_owned();
        assert_eq!(
            output["source"]["partition_key"],
            output["output_partition_key"]
        );
        let sequence = sequence(output);
        if let Some(previous) = last.insert(key.clone(), sequence) {
            assert!(previous < sequence, "key {key}: {previous} then {sequence}");
        }
    }
}

fn assert_written_once(outputs: &[Value]) {
    let mut seen = HashSet::new();
    for output in outputs {
        let id = (
            output["source"]["shard_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            sequence(output),
        );
        assert!(seen.insert(id.clone()), "written twice: {id:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_match_scikit_learn_in_order_per_key_and_carry_their_source() {
    let world = world().await;
    let count = 40;
    for i in 0..count {
        let mut bytes = data(&world, i, None);
        if i % 3 == 0 {
            // Some producers base64-encode their JSON themselves.
            bytes = base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .into_bytes();
        }
        put(&world, &format!("patient-{}", i % 5), bytes).await;
    }
    let gateway = Gateway::start(&world.server.url, Arc::new(|_: &[u8]| None)).await;
    let predictor = predictor(&world, &gateway.url, &[("MAX_BATCH_SIZE", "8")]);
    let mut delivered = 0;
    for event in batches(&world).await {
        delivered += event.records.len();
        let response = handle_batch(event, soon(), &predictor)
            .await
            .expect("handled");
        assert!(reported(&response).is_empty(), "{response:?}");
    }
    assert_eq!(delivered, count);
    let outputs = outputs(&world).await;
    assert_eq!(outputs.len(), count);
    for output in &outputs {
        let row: usize = output["source"]["partition_key"]
            .as_str()
            .and_then(|k| k.strip_prefix("patient-"))
            .and_then(|k| k.parse().ok())
            .expect("key");
        assert!(row < 5);
        assert_eq!(output["model"], MODEL);
        assert_eq!(
            output["source"]["stream_arn"].as_str(),
            Some(arn(&world.source).as_str())
        );
        assert!(
            output["source"]["shard_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("shardId-"))
        );
        assert_eq!(output["input_fingerprint"].as_str().map(str::len), Some(16));
        assert!(
            output["predicted_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{output}"
        );
    }
    // Against scikit-learn, through the fingerprint of each row's features.
    let model_features = |i: usize| -> Vec<(String, f64)> {
        world
            .features
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    world.rows[i]["features"][n].as_f64().expect("number"),
                )
            })
            .collect()
    };
    let by_fingerprint: HashMap<String, usize> = (0..count)
        .map(|i| {
            (
                kinesis_predict::features::fingerprint(MODEL, &model_features(i)),
                i,
            )
        })
        .collect();
    for output in &outputs {
        let i = by_fingerprint[output["input_fingerprint"].as_str().expect("fingerprint")];
        let row = &world.rows[i];
        assert_eq!(output["prediction"]["label"], row["label"], "row {i}");
        let score = output["prediction"]["score"].as_f64().expect("score");
        let want = row["score"].as_f64().expect("expected score");
        assert!((score - want).abs() <= 1e-5, "row {i}: {score} vs {want}");
    }
    assert_ordered_per_key(&outputs);
    assert_written_once(&outputs);
    // One call per chunk of 8, per shard's batch.
    let calls = gateway.counters.calls.load(Ordering::SeqCst);
    assert!(
        calls <= 7,
        "{calls} calls for 40 records in chunks of 8 over 2 shards"
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

/// One source shard, so the whole batch is one event.
async fn one_shard_world() -> World {
    let world = world().await;
    let source = unique("measurements-1");
    world
        .kinesis
        .create_stream()
        .stream_name(&source)
        .shard_count(1)
        .send()
        .await
        .expect("create stream");
    World { source, ..world }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_isolated_by_bisection_and_bad_data_is_dropped_not_retried() {
    let world = one_shard_world().await;
    for i in 0..8 {
        let poison = (i == 5).then_some((world.features[0].as_str(), 987654.321));
        let mut bytes = data(&world, i, None);
        if let Some((name, value)) = poison {
            let mut object: Value = serde_json::from_slice(&bytes).expect("JSON");
            object[name] = json!(value);
            bytes = serde_json::to_vec(&object).expect("JSON");
        }
        put(&world, "k", bytes).await;
    }
    put(&world, "k", b"not JSON at all".to_vec()).await;
    let gateway = Gateway::start(&world.server.url, poison_rule("987654.321")).await;
    let predictor = predictor(&world, &gateway.url, &[]);
    let events = batches(&world).await;
    assert_eq!(events.len(), 1);
    let response = handle_batch(events[0].clone(), soon(), &predictor)
        .await
        .expect("handled");
    assert!(
        reported(&response).is_empty(),
        "poison and bad data are dropped, not retried"
    );
    let outputs = outputs(&world).await;
    let rows: Vec<u64> = outputs.iter().map(|o| sequence(o) as u64).collect();
    assert_eq!(
        rows,
        [1, 2, 3, 4, 5, 7, 8],
        "all but the poison (6th) and the bad data (9th)"
    );
    // 8 -> 4+4 -> 2+2 (one half fine) -> 1+1: 1 + 2 + 2 + 2 calls.
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_window_is_retried_by_sequence_number_and_nothing_is_written_twice() {
    let world = one_shard_world().await;
    for i in 0..6 {
        put(&world, &format!("k{}", i % 2), data(&world, i, None)).await;
    }
    // Chunks of 2: the first chunk passes, then the server answers 503 for a while.
    let failing = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU32::new(0));
    let (flag, counter) = (failing.clone(), calls.clone());
    let gateway = Gateway::start(
        &world.server.url,
        Arc::new(move |_: &[u8]| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            if n >= 1 && flag.load(Ordering::SeqCst) {
                Some((StatusCode::SERVICE_UNAVAILABLE, String::new()))
            } else {
                None
            }
        }),
    )
    .await;
    failing.store(true, Ordering::SeqCst);
    let predictor = predictor(&world, &gateway.url, &[("MAX_BATCH_SIZE", "2")]);
    let event = batches(&world).await.remove(0);
    let sequences: Vec<String> = event
        .records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    let response = handle_batch(event.clone(), soon(), &predictor)
        .await
        .expect("handled");
    // The first two are written; the rest reported (the 503s and those held back).
    assert_eq!(reported(&response), sequences[2..]);
    assert_eq!(outputs(&world).await.len(), 2);

    // Lambda redelivers from the lowest reported sequence number, once the window ends.
    failing.store(false, Ordering::SeqCst);
    let lowest = reported(&response)
        .iter()
        .filter_map(|s| s.parse::<u128>().ok())
        .min()
        .expect("a reported record");
    let mut retry = event.clone();
    retry.records.retain(|r| {
        r.kinesis
            .sequence_number
            .parse::<u128>()
            .is_ok_and(|s| s >= lowest)
    });
    let response = handle_batch(retry, soon(), &predictor)
        .await
        .expect("handled");
    assert!(reported(&response).is_empty(), "{response:?}");
    let outputs = outputs(&world).await;
    assert_eq!(outputs.len(), 6);
    assert_written_once(&outputs);
    assert_ordered_per_key(&outputs);
}

/// A proxy in front of moto that fails chosen `PutRecords` entries the way Kinesis
/// does (`ProvisionedThroughputExceededException` in the entry, HTTP 200): the rest of
/// the call goes to moto. `fail` decides from an entry's data and how many times that
/// entry was sent before.
struct PutRecordsFaults {
    url: String,
    /// Entries sent per `PutRecords` call, in order.
    calls: Arc<Mutex<Vec<usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PutRecordsFaults {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type EntryRule = Arc<dyn Fn(&Value, u32) -> bool + Send + Sync>;

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    fail: EntryRule,
    sent: Arc<Mutex<HashMap<String, u32>>>,
    calls: Arc<Mutex<Vec<usize>>>,
}

impl PutRecordsFaults {
    async fn start(fail: EntryRule) -> Self {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let state = ProxyState {
            upstream: moto_endpoint(),
            http: reqwest::Client::new(),
            fail,
            sent: Arc::new(Mutex::new(HashMap::new())),
            calls: calls.clone(),
        };
        let app = axum::Router::new().fallback(proxy).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            calls,
            task,
        }
    }
}

/// Sends a Kinesis JSON request on to moto (which does not check signatures).
async fn forward(
    state: &ProxyState,
    target: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Vec<u8>), String> {
    let reply = state
        .http
        .post(format!("{}/", state.upstream.trim_end_matches('/')))
        .header("X-Amz-Target", target)
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261128/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = StatusCode::from_u16(reply.status().as_u16()).map_err(|e| e.to_string())?;
    let bytes = reply.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, bytes.to_vec()))
}

async fn proxy(State(state): State<ProxyState>, request: Request) -> Response {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(body): Result<Bytes, _> = axum::body::to_bytes(request.into_body(), 64 << 20).await
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if target != "Kinesis_20131202.PutRecords" {
        return match forward(&state, &target, body.to_vec()).await {
            Ok((status, reply)) => (
                status,
                [("content-type", "application/x-amz-json-1.1")],
                reply,
            )
                .into_response(),
            Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
        };
    }
    let mut request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let entries = request["Records"].as_array().cloned().unwrap_or_default();
    state.calls.lock().expect("calls").push(entries.len());
    let mut failed = Vec::new();
    let mut kept = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let data = base64::engine::general_purpose::STANDARD
            .decode(entry["Data"].as_str().unwrap_or_default())
            .unwrap_or_default();
        let data: Value = serde_json::from_slice(&data).unwrap_or_default();
        let id = data["source"]["sequence_number"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let before = {
            let mut sent = state.sent.lock().expect("sent");
            let count = sent.entry(id).or_insert(0);
            *count += 1;
            *count - 1
        };
        if (state.fail)(&data, before) {
            failed.push(index);
        } else {
            kept.push(entry.clone());
        }
    }
    request["Records"] = Value::Array(kept);
    let mut results: Vec<Value> = Vec::new();
    if request["Records"].as_array().is_some_and(|r| !r.is_empty()) {
        let Ok((status, reply)) = forward(
            &state,
            &target,
            serde_json::to_vec(&request).unwrap_or_default(),
        )
        .await
        else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        if !status.is_success() {
            return (status, reply).into_response();
        }
        let reply: Value = serde_json::from_slice(&reply).unwrap_or_default();
        results = reply["Records"].as_array().cloned().unwrap_or_default();
    }
    let mut results = results.into_iter();
    let merged: Vec<Value> = (0..entries.len())
        .map(|index| {
            if failed.contains(&index) {
                json!({"ErrorCode": "ProvisionedThroughputExceededException",
                       "ErrorMessage": "Rate exceeded for shard shardId-000000000000"})
            } else {
                results.next().unwrap_or_default()
            }
        })
        .collect();
    let reply = json!({"FailedRecordCount": failed.len(), "Records": merged});
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        reply.to_string(),
    )
        .into_response()
}

async fn kinesis_through(url: &str) -> aws_sdk_kinesis::Client {
    let config = blueprint_testkit::moto_config().await;
    let config = aws_sdk_kinesis::config::Builder::from(&config)
        .endpoint_url(url)
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partially_failed_put_records_is_retried_for_the_failed_entries_only() {
    let world = one_shard_world().await;
    // Three keys; k0 has records 0, 3, 6, 9.
    for i in 0..10 {
        put(&world, &format!("k{}", i % 3), data(&world, i, None)).await;
    }
    let event = batches(&world).await.remove(0);
    let sequences: Vec<String> = event
        .records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    // The first sending of records 1 and 3 fails (3 is k0's second record).
    let failing: HashSet<String> = [sequences[1].clone(), sequences[3].clone()].into();
    let proxy = PutRecordsFaults::start(Arc::new(move |data: &Value, before: u32| {
        before == 0
            && data["source"]["sequence_number"]
                .as_str()
                .is_some_and(|s| failing.contains(s))
    }))
    .await;
    let predictor = predictor_with(
        &world,
        &world.server.url,
        kinesis_through(&proxy.url).await,
        &[],
    );
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    assert!(reported(&response).is_empty(), "{response:?}");
    let sent: usize = proxy.calls.lock().expect("calls").iter().sum();
    assert_eq!(sent, 10 + 2, "only the two failed entries are sent again");
    let outputs = outputs(&world).await;
    assert_eq!(outputs.len(), 10);
    assert_written_once(&outputs);
    assert_ordered_per_key(&outputs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_that_keeps_failing_holds_back_its_key_and_is_reported() {
    let world = one_shard_world().await;
    for i in 0..6 {
        put(&world, &format!("k{}", i % 2), data(&world, i, None)).await;
    }
    let event = batches(&world).await.remove(0);
    let sequences: Vec<String> = event
        .records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    // Record 2 (k0's second) never gets written.
    let stuck = sequences[2].clone();
    let proxy = PutRecordsFaults::start(Arc::new(move |data: &Value, _| {
        data["source"]["sequence_number"].as_str() == Some(stuck.as_str())
    }))
    .await;
    let predictor = predictor_with(
        &world,
        &world.server.url,
        kinesis_through(&proxy.url).await,
        &[("MAX_PUT_ATTEMPTS", "3")],
    );
    let response = handle_batch(event, soon(), &predictor)
        .await
        .expect("handled");
    // Record 2 and k0's later record 4 are reported; k1's records are written.
    assert_eq!(
        reported(&response),
        [sequences[2].clone(), sequences[4].clone()]
    );
    let written: Vec<u128> = outputs(&world).await.iter().map(sequence).collect();
    let want: Vec<u128> = [0, 1, 3, 5]
        .iter()
        .map(|&i| sequences[i].parse().expect("number"))
        .collect();
    assert_eq!(written, want);
}

#[test]
fn the_sample_event_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/stream-batch.json");
    let text = std::fs::read_to_string(&path).expect("sample event");
    let event: KinesisEvent = serde_json::from_str(&text).expect("a Kinesis event");
    assert_eq!(event.records.len(), 4);
}
