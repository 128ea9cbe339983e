//! `AlgorithmClient` against a real local HTTP server playing the Algorithmia protocol.

mod fake_api;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use blueprint_core::client::RetryPolicy;
use blueprint_core::v1::{AlgoPath, ErrorKind};
use blueprint_core::{
    AlgoOutput, AlgorithmClient, AlgorithmError, AlgorithmiaSettings, ApiKey, Auth, CallOptions,
    Input, KeySource,
};
use blueprint_testkit::CapturedLogs;
use serde_json::json;

fn settings(api: &str, max_concurrency: usize) -> AlgorithmiaSettings {
    AlgorithmiaSettings {
        api: api.to_owned(),
        auth: Auth::ApiKey(KeySource::Plain(ApiKey::new(fake_api::KEY))),
        max_concurrency,
        max_reply_bytes: 1 << 20,
        connect_timeout: Duration::from_secs(2),
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    }
}

fn client(api: &str) -> AlgorithmClient {
    AlgorithmClient::new(&settings(api, 80), ApiKey::new(fake_api::KEY))
        .expect("client")
        .with_retry(fast_retry())
}

fn algo(path: &str) -> AlgoPath {
    path.parse().expect("valid path")
}

#[tokio::test]
async fn json_text_and_binary_round_trip() {
    let api = fake_api::start().await;
    let client = client(&api.url);
    let opts = CallOptions::default();

    let reply = client
        .call(
            &algo("test/Echo/1.0.0"),
            Input::json(&json!({"a": [1, 2]})).expect("json"),
            &opts,
        )
        .await
        .expect("json call");
    assert_eq!(reply.output, AlgoOutput::Json(json!({"a": [1, 2]})));

    let reply = client
        .call(
            &algo("algo://test/Echo"),
            Input::Text("héllo".into()),
            &opts,
        )
        .await
        .expect("text call");
    assert_eq!(reply.output, AlgoOutput::Text("héllo".into()));

    let bytes: Vec<u8> = (0..=255).collect();
    let reply = client
        .call(&algo("test/Echo"), Input::Bytes(bytes.clone()), &opts)
        .await
        .expect("binary call");
    assert_eq!(reply.into_bytes().expect("bytes"), bytes);

    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Pair {
        a: Vec<u32>,
    }
    let reply = client
        .call(
            &algo("test/Echo"),
            Input::json(&json!({"a": [7]})).expect("json"),
            &opts,
        )
        .await
        .expect("call");
    assert_eq!(reply.decode::<Pair>().expect("typed"), Pair { a: vec![7] });
    let query = api.counters.last_query.lock().expect("lock").clone();
    assert_eq!(query.get("timeout").map(String::as_str), Some("300"));
}

#[tokio::test]
async fn an_error_inside_http_200_is_an_algorithm_error_and_not_retried() {
    let api = fake_api::start().await;
    let err = client(&api.url)
        .call(
            &algo("test/ErrorIn200"),
            Input::Text("x".into()),
            &CallOptions::default(),
        )
        .await
        .expect_err("algorithm error");
    assert!(matches!(
        err,
        AlgorithmError::Algorithm {
            kind: ErrorKind::AlgorithmError,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "algorithm test/ErrorIn200 failed (AlgorithmError): no face found in the input"
    );
    assert!(!err.is_retryable(), "the client does not repeat it at once");
    assert!(
        !err.is_input_problem(),
        "but the record is retried later: only InputError blames the input"
    );
    assert_eq!(api.counters.attempts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn status_codes_map_to_distinct_errors() {
    let api = fake_api::start().await;
    let client = client(&api.url);
    let opts = CallOptions::default();

    let wrong_key = AlgorithmClient::new(&settings(&api.url, 4), ApiKey::new("simWRONG"))
        .expect("client")
        .with_retry(fast_retry());
    let err = wrong_key
        .call(&algo("test/Echo"), Input::Text("x".into()), &opts)
        .await
        .expect_err("401");
    assert!(
        matches!(err, AlgorithmError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ALGORITHMIA_API_KEY"), "{err}");
    assert!(!err.is_retryable());

    let err = client
        .call(&algo("test/Missing/1.0.0"), Input::Text("x".into()), &opts)
        .await
        .expect_err("404");
    assert!(matches!(err, AlgorithmError::NotFound { .. }), "{err}");
    assert!(
        err.to_string().contains("algorithm Missing not found"),
        "{err}"
    );

    let before = api.counters.attempts.load(Ordering::SeqCst);
    let err = client
        .call(&algo("test/NotJson"), Input::Text("x".into()), &opts)
        .await
        .expect_err("protocol");
    assert!(
        matches!(err, AlgorithmError::Protocol { status: 200, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("<html>hello"), "{err}");
    assert_eq!(api.counters.attempts.load(Ordering::SeqCst) - before, 1);
}

#[tokio::test]
async fn oversized_input_is_refused_before_sending() {
    let api = fake_api::start().await;
    let err = client(&api.url)
        .call(
            &algo("test/Echo"),
            Input::Bytes(vec![0; 10 * 1024 * 1024 + 1]),
            &CallOptions::default(),
        )
        .await
        .expect_err("too large");
    assert!(matches!(
        err,
        AlgorithmError::InputTooLarge {
            size: 10_485_761,
            ..
        }
    ));
    assert_eq!(api.counters.attempts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn transient_errors_are_retried_until_success() {
    let api = fake_api::start().await;
    let reply = client(&api.url)
        .call(
            &algo("test/Flaky"),
            Input::Text("x".into()),
            &CallOptions::default(),
        )
        .await
        .expect("third attempt succeeds");
    assert_eq!(reply.output, AlgoOutput::Json(json!({"attempt": 3})));
    assert_eq!(api.counters.attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_stop_at_the_attempt_limit() {
    let api = fake_api::start().await;
    let err = client(&api.url)
        .call(
            &algo("test/Throttled"),
            Input::Text("x".into()),
            &CallOptions::default(),
        )
        .await
        .expect_err("throttled");
    assert!(matches!(err, AlgorithmError::Throttled { .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(api.counters.attempts.load(Ordering::SeqCst), 4);

    let api = fake_api::start().await;
    let err = client(&api.url)
        .call(
            &algo("test/Exploding"),
            Input::Text("x".into()),
            &CallOptions::default(),
        )
        .await
        .expect_err("5xx");
    assert!(
        matches!(err, AlgorithmError::Server { status: 500, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("worker exploded"),
        "message from x-error-message: {err}"
    );
    assert_eq!(api.counters.attempts.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn the_deadline_bounds_a_slow_call_and_the_retries() {
    let api = fake_api::start().await;
    let client = client(&api.url);
    let start = Instant::now();
    let err = client
        .call(
            &algo("test/Slow"),
            Input::Text("x".into()),
            &CallOptions::with_deadline(Instant::now() + Duration::from_millis(400)),
        )
        .await
        .expect_err("timeout");
    assert!(
        matches!(
            err,
            AlgorithmError::Timeout { .. } | AlgorithmError::DeadlineExceeded { .. }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );

    let slow_retry = AlgorithmClient::new(&settings(&api.url, 4), ApiKey::new(fake_api::KEY))
        .expect("client")
        .with_retry(RetryPolicy {
            max_attempts: 50,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(100),
        });
    let before = api.counters.attempts.load(Ordering::SeqCst);
    let start = Instant::now();
    let err = slow_retry
        .call(
            &algo("test/Throttled"),
            Input::Text("x".into()),
            &CallOptions::with_deadline(Instant::now() + Duration::from_millis(500)),
        )
        .await
        .expect_err("throttled");
    let attempts = api.counters.attempts.load(Ordering::SeqCst) - before;
    assert!(matches!(err, AlgorithmError::Throttled { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
    assert!((2..50).contains(&attempts), "{attempts} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_are_capped() {
    let api = fake_api::start().await;
    let client =
        AlgorithmClient::new(&settings(&api.url, 3), ApiKey::new(fake_api::KEY)).expect("client");
    let calls = (0..12).map(|_| {
        let client = client.clone();
        async move {
            client
                .call(
                    &algo("test/Hold"),
                    Input::Text("x".into()),
                    &CallOptions::default(),
                )
                .await
        }
    });
    for result in futures::future::join_all(calls).await {
        result.expect("call");
    }
    assert_eq!(api.counters.max_in_flight.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn raw_and_void_outputs() {
    let api = fake_api::start().await;
    let client = client(&api.url);
    let opts = CallOptions::default();
    let raw = client
        .call_raw(
            &algo("test/Raw"),
            Input::json(&json!({"k": 1})).expect("json"),
            &opts,
        )
        .await
        .expect("raw");
    assert_eq!(raw.body, br#"{"k":1}"#);
    let err = client
        .call_raw(&algo("test/Raw"), Input::json("fail").expect("json"), &opts)
        .await
        .expect_err("raw failure");
    assert!(
        matches!(err, AlgorithmError::Algorithm { ref message, .. } if message == "raw failure"),
        "{err}"
    );

    let reply = client
        .call_void(
            &algo("test/Void"),
            Input::json(&json!({})).expect("json"),
            &opts,
        )
        .await
        .expect("void");
    assert_eq!(reply.request_id, "req-0001");
    let query = api.counters.last_query.lock().expect("lock").clone();
    assert_eq!(query.get("output").map(String::as_str), Some("void"));
}

#[tokio::test]
async fn the_key_never_reaches_logs_errors_or_debug_output() {
    let logs = CapturedLogs::start();
    let api = fake_api::start().await;
    let client = client(&api.url);
    let mut seen = format!("{client:?}");
    for name in [
        "ErrorIn200",
        "Throttled",
        "Exploding",
        "Missing",
        "NotJson",
        "Slow",
    ] {
        let opts = CallOptions::with_deadline(Instant::now() + Duration::from_millis(300));
        let err = client
            .call(
                &algo(&format!("test/{name}")),
                Input::Text("x".into()),
                &opts,
            )
            .await
            .expect_err(name);
        seen.push_str(&format!("{err}\n{err:?}\n"));
        let diagnostic: lambda_runtime::Diagnostic = err.into();
        seen.push_str(&format!("{diagnostic:?}\n"));
    }
    let text = logs.text();
    assert!(
        text.contains("retrying algorithm call"),
        "logs were captured: {text}"
    );
    assert!(!text.contains(fake_api::KEY), "key in logs: {text}");
    assert!(!seen.contains(fake_api::KEY), "key in errors: {seen}");
    // The client holds only the header, marked sensitive: its Debug says so.
    assert!(seen.contains("auth: Key(Sensitive)"), "{seen}");
}

/// Replies are read up to `ALGORITHMIA_MAX_REPLY_BYTES` (1 MiB here) and no further:
/// an announced 2 MiB reply is refused unread, an endless one stops at the cap, and
/// neither is retried. An error reply is cut at the cap and keeps its status.
#[tokio::test]
async fn a_reply_over_the_cap_fails_without_being_read_whole() {
    let api = fake_api::start().await;
    let client = client(&api.url);
    for name in ["Huge", "Endless"] {
        let before = api.counters.attempts.load(Ordering::SeqCst);
        let started = Instant::now();
        let err = tokio::time::timeout(
            Duration::from_secs(20),
            client.call(
                &algo(&format!("test/{name}")),
                Input::Text("x".into()),
                &CallOptions::default(),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: the reply was read past the cap"))
        .expect_err("over the cap");
        assert!(
            matches!(err, AlgorithmError::ReplyTooLarge { limit, .. } if limit == 1 << 20),
            "{name}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("over ALGORITHMIA_MAX_REPLY_BYTES (1048576 bytes)"),
            "{message}"
        );
        assert!(
            !err.is_input_problem(),
            "the record fails, it is not dropped"
        );
        assert!(matches!(
            blueprint_core::report::Outcome::from(err),
            blueprint_core::report::Outcome::Failed { .. }
        ));
        assert_eq!(
            api.counters.attempts.load(Ordering::SeqCst) - before,
            1,
            "{name}: not retried"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{name}");
    }
    let client = client.with_retry(RetryPolicy::none());
    let err = client
        .call(
            &algo("test/HugeError"),
            Input::Text("x".into()),
            &CallOptions::default(),
        )
        .await
        .expect_err("500");
    assert!(
        matches!(&err, AlgorithmError::Server { status: 500, message, .. } if message.starts_with("worker exploded")),
        "{err:?}"
    );
}
