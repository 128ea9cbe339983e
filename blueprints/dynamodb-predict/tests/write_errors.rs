//! DynamoDB's `ValidationException` (a write that can never succeed: an item over
//! 400 KB, a number out of range) rejects the record; a throttled write fails it for
//! retry. moto does not answer these as AWS does, so a local endpoint speaks
//! DynamoDB's JSON error protocol here.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use blueprint_core::report::Outcome;
use blueprint_core::v1::contracts::predict::Prediction;
use dynamodb_predict::features::Candidate;
use dynamodb_predict::writer::PredictionWriter;
use serde_dynamo::AttributeValue;

/// Answers every call with the error the table's name asks for.
async fn fake_dynamodb() -> String {
    let app = Router::new().fallback(|request: Request| async move {
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let (status, kind, message) = if String::from_utf8_lossy(&body).contains("invalid-table") {
            (
                400,
                "com.amazon.coral.validate#ValidationException",
                "Item size to update has exceeded the maximum allowed size",
            )
        } else {
            (
                400,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            )
        };
        (
            axum::http::StatusCode::from_u16(status).unwrap_or_default(),
            [("content-type", "application/x-amz-json-1.0")],
            serde_json::json!({"__type": kind, "message": message}).to_string(),
        )
            .into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn candidate(table: &str) -> Candidate {
    Candidate {
        sequence_number: "1".into(),
        table: table.into(),
        keys: HashMap::from([("id".to_owned(), AttributeValue::S("p1".into()))]),
        features: vec![("f0".into(), 1.5)],
        feature_attributes: vec![("f0".into(), AttributeValue::N("1.5".into()))],
        fingerprint: "0123456789abcdef".into(),
        item_bytes: 20,
    }
}

#[tokio::test]
async fn a_validation_exception_rejects_and_throttling_fails() {
    let endpoint = fake_dynamodb().await;
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .build();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(config);
    let writer = PredictionWriter {
        dynamodb: &dynamodb,
        attribute: "prediction",
    };
    let prediction = Prediction::Value { value: 151.5 };
    match writer
        .write(&candidate("invalid-table"), &prediction, "m/1.0.0")
        .await
    {
        Outcome::Rejected { error } => assert!(
            error.contains(
                "DynamoDB refused UpdateItem as invalid (DynamoDB's limits: 400 KB an item"
            ) && error.contains("retrying cannot help"),
            "{error}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        writer
            .write(&candidate("busy-table"), &prediction, "m/1.0.0")
            .await,
        Outcome::Failed { .. }
    ));
}
