//! The blueprint against a real `algo-server`, and a gateway in front of it that
//! throttles some calls: the sample event, bad input, partial batch failures.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::SqsEvent;
use axum::http::StatusCode;
use blueprint_core::{AlgorithmClient, ApiKey, RetryPolicy};
use blueprint_template::{Blueprint, Settings, handle_batch};
use blueprint_testkit::{AlgoServer, CapturedLogs, Gateway};
use serde_json::json;

const KEY: &str = "simStarterKey";

fn blueprint(api: &str) -> Blueprint {
    let env = |k: &str| match k {
        "ALGORITHMIA_API" => Some(api.to_owned()),
        "ALGORITHMIA_API_KEY" => Some(KEY.to_owned()),
        _ => None,
    };
    let settings = Settings::from_env(env).expect("settings");
    let algorithms = AlgorithmClient::new(&settings.algorithmia, ApiKey::new(KEY))
        .expect("client")
        .with_retry(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
        });
    Blueprint {
        settings,
        algorithms,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn batch(bodies: &[(&str, &str)]) -> SqsEvent {
    let records: Vec<_> = bodies
        .iter()
        .map(|(id, body)| json!({"messageId": id, "body": body, "eventSource": "aws:sqs"}))
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("SQS event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_event_is_echoed_and_bad_input_is_dropped_not_retried() {
    let logs = CapturedLogs::start();
    let server = AlgoServer::start(&["--api-key", KEY]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/sqs-batch.json");
    let text = std::fs::read_to_string(&path).expect("sample event");
    let event: SqsEvent = serde_json::from_str(&text).expect("an SQS event");
    assert_eq!(event.records.len(), 3);

    let response = handle_batch(event, soon(), &blueprint(&server.url))
        .await
        .expect("the invocation succeeds");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let text = logs.text();
    assert!(
        text.contains("hello from the blueprint"),
        "the echoed result is logged: {text}"
    );
    assert!(text.contains("the message body is not JSON"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_messages_that_failed_transiently_are_reported_for_retry() {
    let server = AlgoServer::start(&["--api-key", KEY]);
    let gateway = Gateway::start(
        &server.url,
        Arc::new(|body: &[u8]| {
            String::from_utf8_lossy(body)
                .contains("throttle-me")
                .then(|| (StatusCode::TOO_MANY_REQUESTS, String::new()))
        }),
    )
    .await;
    let event = batch(&[
        ("m1", r#"{"n": 1}"#),
        ("m2", r#"{"n": 2, "note": "throttle-me"}"#),
        ("m3", "not JSON"),
    ]);
    let response = handle_batch(event, soon(), &blueprint(&gateway.url))
        .await
        .expect("a partial failure is a response, not an error");
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m2"]);
    // m1 once, m2 twice (one retry), m3 never: bad input costs no call.
    assert_eq!(gateway.counters.calls.load(Ordering::SeqCst), 3);

    // A wrong key is the operator's to fix: retried, not dropped.
    let wrong = Blueprint {
        algorithms: AlgorithmClient::new(
            &blueprint(&server.url).settings.algorithmia,
            ApiKey::new("simWrong"),
        )
        .expect("client"),
        ..blueprint(&server.url)
    };
    let response = handle_batch(batch(&[("m4", "{}")]), soon(), &wrong)
        .await
        .expect("response");
    assert_eq!(response.batch_item_failures.len(), 1);
}
