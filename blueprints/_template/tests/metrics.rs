//! Metrics you can alarm on: one invocation of the real handler (against a real
//! `algo-server` behind a throttling gateway) writes one EMF line whose counts are the
//! batch's outcomes and the client's calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::SqsEvent;
use axum::http::StatusCode;
use blueprint_core::metrics::{Metrics, NAMESPACE, names};
use blueprint_core::{AlgorithmClient, ApiKey, RetryPolicy};
use blueprint_template::{Blueprint, Settings, handle_batch};
use blueprint_testkit::{AlgoServer, Gateway};
use serde_json::json;

const KEY: &str = "simStarterMetricsKey";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_emits_one_emf_line_with_its_counts() {
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
    let env = |k: &str| match k {
        "ALGORITHMIA_API" => Some(gateway.url.clone()),
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
    let blueprint = Blueprint {
        settings,
        algorithms,
    };
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        {"messageId": "m1", "body": "{\"n\": 1}", "eventSource": "aws:sqs"},
        {"messageId": "m2", "body": "{\"note\": \"throttle-me\"}", "eventSource": "aws:sqs"},
        {"messageId": "m3", "body": "not JSON", "eventSource": "aws:sqs"},
    ]}))
    .expect("SQS event");

    let (metrics, captured) = Metrics::in_memory("blueprint-template", "starter-fn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let response = metrics
        .measure(handle_batch(event, deadline, &blueprint))
        .await
        .expect("a partial batch response");
    assert_eq!(response.batch_item_failures.len(), 1);

    let docs = captured.documents();
    assert_eq!(docs.len(), 1, "one line per invocation: {docs:#?}");
    let doc = &docs[0];
    assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    assert_eq!(doc["FunctionName"], "starter-fn");
    assert_eq!(doc["Blueprint"], "blueprint-template");
    // m1 done, m2 throttled twice (failed, retried by SQS), m3 not JSON (rejected).
    for (name, expected) in [
        (names::RECORDS_DONE, 1),
        (names::RECORDS_SKIPPED, 0),
        (names::RECORDS_REJECTED, 1),
        (names::RECORDS_FAILED, 1),
        (names::ALGORITHM_CALLS, 2),
        (names::ALGORITHM_CALL_ERRORS, 1),
        (names::ALGORITHM_CALL_RETRIES, 1),
    ] {
        assert_eq!(doc[name], json!(expected), "{name} in {doc}");
    }
    assert!(doc.get(names::ALGORITHM_CALL_LATENCY).is_some(), "{doc}");
}
