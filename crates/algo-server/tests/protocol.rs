//! The v1 protocol, auth, limits, saturation, timeouts and shutdown, against the real
//! binary over HTTP.

mod common;

use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use common::{KEY, Server, client, error_message};
use serde_json::{Value, json};

#[tokio::test]
async fn health_and_listing() {
    let server = Server::start(&[]);
    let health = client()
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);

    let listing: Value = client()
        .get(server.url("/v1/algorithms"))
        .header(header::AUTHORIZATION, format!("Simple {KEY}"))
        .send()
        .await
        .expect("listing")
        .json()
        .await
        .expect("JSON");
    let names: Vec<&str> = listing["algorithms"]
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["algorithm"].as_str().expect("name"))
        .collect();
    for expected in [
        "blueprints/Echo",
        "blueprints/FaceDetection",
        "blueprints/SmartThumbnail",
        "opencv/SmartThumbnail",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for entry in listing["algorithms"].as_array().expect("array") {
        assert!(!entry["versions"].as_array().expect("versions").is_empty());
        assert!(
            entry["input"].as_str().is_some_and(|s| !s.is_empty()),
            "{entry}"
        );
        assert!(
            entry["output"].as_str().is_some_and(|s| !s.is_empty()),
            "{entry}"
        );
    }
}

#[tokio::test]
async fn auth_accepts_simple_and_bare_keys_and_refuses_others() {
    let server = Server::start(&[]);
    let echo = server.url("/v1/algo/blueprints/Echo/1.0.0");
    let send = |auth: Option<&str>| {
        let mut request = client()
            .post(&echo)
            .header(header::CONTENT_TYPE, "text/plain")
            .body("hi");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth.to_owned());
        }
        request.send()
    };
    for good in [format!("Simple {KEY}"), KEY.to_owned()] {
        let response = send(Some(&good)).await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{good}");
    }
    let missing = send(None).await.expect("request");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(missing.headers().contains_key("x-error-message"));
    let reply: Value = missing.json().await.expect("JSON");
    assert!(error_message(&reply).contains("Authorization"), "{reply}");

    let wrong = send(Some("Simple nope")).await.expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let reply: Value = wrong.json().await.expect("JSON");
    assert!(error_message(&reply).contains("API key"), "{reply}");

    let listing = client()
        .get(server.url("/v1/algorithms"))
        .send()
        .await
        .expect("request");
    assert_eq!(listing.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refuses_to_start_without_a_key_unless_anonymous() {
    let error = Server::start_raw(&[]).err().expect("must not start");
    assert!(
        error.contains("--api-key") && error.contains("--allow-anonymous"),
        "{error}"
    );
    let server = Server::start_raw(&["--allow-anonymous"]).expect("starts anonymous");
    let response = client()
        .post(server.url("/v1/algo/blueprints/Echo"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body("hi")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn echo_keeps_the_kind_of_its_input() {
    let server = Server::start(&[]);
    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Echo/1.0.0", &json!({"a": [1, 2]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["result"], json!({"a": [1, 2]}));
    assert_eq!(reply["metadata"]["content_type"], "json");
    assert!(
        reply["metadata"]["duration"]
            .as_f64()
            .is_some_and(|d| d >= 0.0),
        "{reply}"
    );

    let response = server
        .call("/v1/algo/blueprints/Echo", "text/plain", "héllo")
        .await;
    let reply: Value = response.json().await.expect("JSON");
    assert_eq!(
        (
            reply["result"].as_str(),
            reply["metadata"]["content_type"].as_str()
        ),
        (Some("héllo"), Some("text"))
    );

    let (_, reply) = server
        .call_bytes("/v1/algo/blueprints/Echo", vec![0, 159, 255])
        .await;
    assert_eq!(common::binary_result(&reply), vec![0, 159, 255]);
}

#[tokio::test]
async fn version_specs_resolve_and_unknowns_are_404() {
    let server = Server::start(&[]);
    for path in [
        "Echo",
        "Echo/1.0.0",
        "Echo/1.*",
        "Echo/1.0.*",
        "Echo/latestPrivate",
        "echo",
    ] {
        let (status, reply) = server
            .call_json(&format!("/v1/algo/blueprints/{path}"), &json!(1))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {reply}");
    }
    for (path, says) in [
        ("/v1/algo/blueprints/Echo/2.*", "2.*"),
        ("/v1/algo/blueprints/Echo/1.0.1", "1.0.1"),
        ("/v1/algo/blueprints/Nope", "blueprints/Nope"),
        ("/v1/algo/blueprints", "owner/name"),
        ("/v1/algo/blueprints/Echo/1.x", "1.x"),
    ] {
        let (status, reply) = server.call_json(path, &json!(1)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {reply}");
        assert!(error_message(&reply).contains(says), "{path}: {reply}");
    }
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong() {
    let server = Server::start(&[]);
    let response = server
        .call("/v1/algo/blueprints/Echo", "application/json", "{not json")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let reply: Value = response.json().await.expect("JSON");
    assert!(error_message(&reply).contains("not valid JSON"), "{reply}");

    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Echo?timeout=soon", &json!(1))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&reply).contains("`timeout`"), "{reply}");

    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Echo?output=file", &json!(1))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&reply).contains("`output`"), "{reply}");
}

#[tokio::test]
async fn output_raw_returns_the_bare_result_and_400_on_algorithm_errors() {
    let server = Server::start(&[]);
    let response = server
        .call(
            "/v1/algo/blueprints/Echo?output=raw",
            "application/json",
            r#"{"k":"v"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"k": "v"})
    );

    let response = server
        .call(
            "/v1/algo/blueprints/Echo?output=raw",
            "application/octet-stream",
            vec![1u8, 2, 3],
        )
        .await;
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), &[1, 2, 3]);

    let response = server
        .call(
            "/v1/algo/blueprints/Sleep?output=raw",
            "application/json",
            r#""long""#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let reply: Value = response.json().await.expect("JSON");
    assert!(error_message(&reply).contains("seconds"), "{reply}");
}

#[tokio::test]
async fn algorithm_errors_are_http_200_with_an_error_envelope() {
    let server = Server::start(&[]);
    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Sleep", &json!("soon"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["error"]["error_type"], "InputError");
    assert!(reply.get("result").is_none());
}

#[tokio::test]
async fn output_void_replies_at_once_and_runs_in_the_background() {
    let server = Server::start(&[]);
    let started = Instant::now();
    let response = server
        .call(
            "/v1/algo/blueprints/Sleep?output=void",
            "application/json",
            "1.0",
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "took {:?}",
        started.elapsed()
    );
    let request_id = response
        .headers()
        .get("x-request-id")
        .cloned()
        .expect("request id header");
    let reply: Value = response.json().await.expect("JSON");
    assert_eq!(reply["async"], "void");
    assert_eq!(reply["request_id"].as_str(), request_id.to_str().ok());
    assert_eq!(
        server.in_flight().await,
        1,
        "the call runs in the background"
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413_with_an_envelope() {
    let server = Server::start(&["--max-body-bytes", "1024"]);
    let response = server
        .call(
            "/v1/algo/blueprints/Echo",
            "application/octet-stream",
            vec![7u8; 4096],
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let reply: Value = response.json().await.expect("JSON");
    assert!(
        error_message(&reply).contains("--max-body-bytes"),
        "{reply}"
    );
    let (status, _) = server
        .call_bytes("/v1/algo/blueprints/Echo", vec![7u8; 1000])
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_saturated_pool_answers_429_at_once() {
    let server = Server::start(&["--workers", "1", "--queue", "0"]);
    let busy = server
        .call(
            "/v1/algo/blueprints/Sleep?output=void",
            "application/json",
            "2",
        )
        .await;
    assert_eq!(busy.status(), StatusCode::OK);
    let started = Instant::now();
    let response = server
        .call("/v1/algo/blueprints/Echo", "application/json", "1")
        .await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(elapsed < Duration::from_millis(300), "429 took {elapsed:?}");
    assert_eq!(
        response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let reply: Value = response.json().await.expect("JSON");
    assert!(error_message(&reply).contains("--workers"), "{reply}");
}

#[tokio::test]
async fn a_timeout_abandons_the_work_and_frees_the_worker() {
    let server = Server::start(&["--workers", "1", "--queue", "0"]);
    let started = Instant::now();
    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Sleep?timeout=1", &json!(30))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["error"]["error_type"], "TimeoutError", "{reply}");
    assert!(error_message(&reply).contains("`timeout`"), "{reply}");
    assert!(
        elapsed < Duration::from_secs(3),
        "timeout reply took {elapsed:?}"
    );
    // The abandoned call stops and gives its only worker back.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (status, _) = server
            .call_json("/v1/algo/blueprints/Echo", &json!(1))
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the worker was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.in_flight().await, 0);
}

#[tokio::test]
async fn sigterm_lets_in_flight_calls_finish() {
    let mut server = Server::start(&[]);
    let url = server.url("/v1/algo/blueprints/Sleep");
    let call = tokio::spawn(async move {
        client()
            .post(url)
            .header(header::AUTHORIZATION, KEY)
            .header(header::CONTENT_TYPE, "application/json")
            .body("1")
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.in_flight().await == 0 {
        assert!(Instant::now() < deadline, "the call never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let response = call.await.expect("task").expect("in-flight call answered");
    assert_eq!(response.status(), StatusCode::OK);
    let reply: Value = response.json().await.expect("JSON");
    assert_eq!(reply["result"]["slept"], 1.0);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("server exits");
    assert!(status.success(), "{status:?}");
}

/// A panic in one call (a decoder bug, say) becomes that call's `AlgorithmError`; the
/// worker is replaced and the server goes on. The release profile unwinds too
/// (`the_release_profile_unwinds`), so this holds for what ships.
#[tokio::test]
async fn a_panicking_call_gets_an_error_and_the_server_lives_on() {
    let server = Server::start(&["--workers", "1"]);
    for _ in 0..3 {
        let (status, reply) = server
            .call_json("/v1/algo/blueprints/Crash", &json!("boom"))
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["error"]["error_type"], "AlgorithmError", "{reply}");
        assert!(
            error_message(&reply).contains("crashed: Crash was called with"),
            "{reply}"
        );
    }
    // The one worker was freed each time: other calls still run.
    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Echo", &json!("alive"))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["result"], "alive");
    assert_eq!(server.in_flight().await, 0);
}

/// `panic = "abort"` would end the process at the first panic, whatever the pool does.
#[test]
fn the_release_profile_unwinds() {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"),
    )
    .expect("workspace Cargo.toml");
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [profile.release] section");
    assert!(
        release
            .lines()
            .any(|line| line.trim() == "panic = \"unwind\""),
        "[profile.release] must set panic = \"unwind\":\n{release}"
    );
}

/// Keys from `--api-key-file` work, and never appear on the command line that other
/// users can read (the server re-executes itself at start: the file survives that).
#[tokio::test]
async fn keys_from_a_file_stay_out_of_the_command_line() {
    let dir = std::env::temp_dir().join(format!("algo-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("keys");
    std::fs::write(&file, "# callers\nsimFILEKEY42\n\n").expect("key file");
    let server = Server::start_raw(&["--api-key-file", file.to_str().expect("UTF-8")])
        .expect("starts with the key file");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid())).expect("cmdline");
    assert!(!String::from_utf8_lossy(&cmdline).contains("simFILEKEY42"));
    let reply = client()
        .post(server.url("/v1/algo/blueprints/Echo"))
        .header(header::AUTHORIZATION, "Simple simFILEKEY42")
        .header(header::CONTENT_TYPE, "application/json")
        .body("\"hi\"")
        .send()
        .await
        .expect("call");
    assert_eq!(reply.status(), StatusCode::OK);
    let refused = client()
        .post(server.url("/v1/algo/blueprints/Echo"))
        .header(header::AUTHORIZATION, "Simple simOTHER")
        .body("hi")
        .send()
        .await
        .expect("call");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    std::fs::write(&file, "# none\n").expect("empty key file");
    let error = Server::start_raw(&["--api-key-file", file.to_str().expect("UTF-8")])
        .err()
        .expect("an empty key file is refused");
    assert!(error.contains("holds no key"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}
