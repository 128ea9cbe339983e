//! S3 errors that mean "this request can never succeed" reject the record; others fail
//! it for retry. moto does not enforce S3's limits, so a local endpoint answers with
//! S3's own error documents here.

use std::collections::HashMap;

use aws_sdk_s3::config::retry::RetryConfig;
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use blueprint_core::report::Outcome;
use blueprint_core::s3_objects::{MAX_KEY_BYTES, OutputObject, put_output};

/// Answers every request as S3 would for the error its key names.
async fn fake_s3() -> String {
    let app = Router::new().fallback(|request: Request| async move {
        let path = request.uri().path().to_owned();
        let (status, code, message) = if path.ends_with("/long") {
            (StatusCode::BAD_REQUEST, "KeyTooLongError", "Your key is too long")
        } else if path.ends_with("/meta") {
            (
                StatusCode::BAD_REQUEST,
                "MetadataTooLarge",
                "Your metadata headers exceed the maximum allowed metadata size.",
            )
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Please reduce your request rate.")
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>r1</RequestId><HostId>h1</HostId></Error>"
        );
        (status, [("content-type", "application/xml")], body).into_response()
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

async fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

fn output(key: &str, metadata: HashMap<String, String>) -> OutputObject {
    OutputObject {
        bucket: "bucket".into(),
        key: key.into(),
        body: b"data".to_vec(),
        content_type: "text/plain".into(),
        cache_control: None,
        metadata,
    }
}

#[tokio::test]
async fn s3s_never_succeed_codes_reject_and_others_fail() {
    let endpoint = fake_s3().await;
    let s3 = s3(&endpoint).await;
    for (key, limit) in [
        ("thumbs/long", "S3's 1024-byte key limit"),
        ("thumbs/meta", "S3's 2 KB user-metadata limit"),
    ] {
        let err = put_output(&s3, output(key, HashMap::new()))
            .await
            .expect_err("refused");
        assert!(err.permanent, "{err}");
        match Outcome::from(err) {
            Outcome::Rejected { error } => {
                assert!(
                    error.contains(limit) && error.contains("retrying cannot help"),
                    "{error}"
                )
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    let err = put_output(&s3, output("thumbs/busy", HashMap::new()))
        .await
        .expect_err("503");
    assert!(!err.permanent);
    assert!(matches!(Outcome::from(err), Outcome::Failed { .. }));
}

/// Over the limits, `put_output` refuses before calling S3 (the endpoint here would
/// answer 503, a transient failure, if it were called).
#[tokio::test]
async fn outputs_over_s3s_limits_are_refused_before_the_call() {
    let endpoint = fake_s3().await;
    let s3 = s3(&endpoint).await;
    let long_key = format!("thumbs/{}", "k".repeat(MAX_KEY_BYTES));
    let err = put_output(&s3, output(&long_key, HashMap::new()))
        .await
        .expect_err("too long");
    assert!(err.permanent);
    assert!(
        err.detail.contains("over S3's 1024-byte key limit"),
        "{}",
        err.detail
    );
    let metadata = HashMap::from([("source-key".to_owned(), "%E5%86%99".repeat(300))]);
    let err = put_output(&s3, output("thumbs/ok", metadata))
        .await
        .expect_err("metadata too large");
    assert!(err.permanent);
    assert!(
        err.detail
            .contains("over S3's 2048-byte limit on user metadata"),
        "{}",
        err.detail
    );
}
