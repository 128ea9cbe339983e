//! IAM mode (`ALGORITHMIA_AUTH=iam`): blueprint-core's real client signs its calls with
//! SigV4, a capture server records exactly what arrives, and botocore (an independent
//! SigV4 implementation, in the repo's venv) recomputes every signature from that.
//!
//! Only AWS verifies a signature for real; this checks that ours is the one AWS's own
//! Python SDK computes for the same request, credentials and time.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use blueprint_core::client::RetryPolicy;
use blueprint_core::env::{ALGORITHMIA_API, ALGORITHMIA_AUTH, AWS_REGION};
use blueprint_core::lambda::SdkConfig;
use blueprint_core::{AlgorithmClient, AlgorithmError, AlgorithmiaSettings, CallOptions, Input};
use blueprint_testkit::{CapturedLogs, workspace_root};
use serde_json::{Value, json};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjSESSIONTOKEN//////////wEaCXVzLWVhc3QtMQ==";
const REGION: &str = "eu-west-1";

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Captured {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Capture {
    requests: Mutex<Vec<Captured>>,
    /// Statuses of the first replies, in order; a JSON envelope after them.
    failures: Mutex<Vec<StatusCode>>,
}

async fn capture_server(failures: Vec<StatusCode>) -> (String, Arc<Capture>) {
    let capture = Arc::new(Capture {
        failures: Mutex::new(failures),
        ..Capture::default()
    });
    let app = Router::new().fallback(record).with_state(capture.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), capture)
}

async fn record(State(capture): State<Arc<Capture>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("request body");
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().expect("ASCII header value");
            (name.as_str().to_owned(), value.to_owned())
        })
        .collect();
    capture.requests.lock().expect("lock").push(Captured {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
    });
    let mut failures = capture.failures.lock().expect("lock");
    if !failures.is_empty() {
        return (failures.remove(0), r#"{"Message":"no"}"#).into_response();
    }
    axum::Json(json!({"result": "ok", "metadata": {"content_type": "text", "duration": 0.0}}))
        .into_response()
}

/// Hands out credentials numbered by call (`AKIDROTATE1`, `AKIDROTATE2`, ...), as a
/// provider does when the role's session is renewed between two attempts.
#[derive(Debug, Clone, Default)]
struct Rotating(Arc<AtomicU32>);

fn numbered(n: u32) -> Credentials {
    Credentials::new(
        format!("AKIDROTATE{n}"),
        format!("rotating-secret-{n}"),
        Some(format!("rotating-token-{n}")),
        None,
        "rotating",
    )
}

impl ProvideCredentials for Rotating {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        future::ProvideCredentials::ready(Ok(numbered(n)))
    }
}

#[derive(Debug)]
struct NoRole;

impl ProvideCredentials for NoRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded("no role here")))
    }
}

fn fixed_credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some(SESSION_TOKEN.to_owned()),
        None,
        "test",
    ))
}

/// The client a blueprint's cold start builds in IAM mode: settings from the
/// environment, credentials from the AWS config.
async fn iam_client(api: &str, credentials: SharedCredentialsProvider) -> AlgorithmClient {
    let env = [
        (ALGORITHMIA_AUTH, "iam"),
        (AWS_REGION, REGION),
        (ALGORITHMIA_API, api),
    ];
    let settings = AlgorithmiaSettings::from_env(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    })
    .expect("IAM settings");
    let aws = SdkConfig::builder()
        .credentials_provider(credentials)
        .build();
    AlgorithmClient::connect(&settings, &aws)
        .await
        .expect("IAM client")
        .with_retry(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        })
}

/// What botocore computes for each request, signed with the credentials given.
struct Recomputed {
    authorization: String,
    body_sha256_matches: bool,
}

fn botocore_authorization(requests: &[(&Captured, &Credentials)]) -> Vec<Recomputed> {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make venv` (scripts/venv.sh) to make the repo's Python venv; \
         this test checks the SigV4 signature with its botocore",
        python.display()
    );
    let input: Vec<Value> = requests
        .iter()
        .map(|(captured, credentials)| {
            json!({
                "method": captured.method,
                "path": captured.path,
                "query": captured.query,
                "headers": captured.headers,
                "body_b64": base64::engine::general_purpose::STANDARD.encode(&captured.body),
                "access_key": credentials.access_key_id(),
                "secret_key": credentials.secret_access_key(),
                "token": credentials.session_token(),
                "region": REGION,
                "service": "lambda",
            })
        })
        .collect();
    let mut child = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/sigv4_botocore.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the venv's python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&serde_json::to_vec(&input).expect("JSON"))
        .expect("write the captured requests");
    let output = child.wait_with_output().expect("python ran");
    assert!(
        output.status.success(),
        "sigv4_botocore.py failed ({}); is botocore in the venv (`make venv`)?\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let replies: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON reply");
    replies
        .iter()
        .map(|reply| Recomputed {
            authorization: reply["authorization"]
                .as_str()
                .expect("authorization")
                .to_owned(),
            body_sha256_matches: reply["body_sha256_matches"].as_bool().expect("bool"),
        })
        .collect()
}

fn signed_headers(authorization: &str) -> &str {
    authorization
        .split_once("SignedHeaders=")
        .and_then(|(_, rest)| rest.split(',').next())
        .expect("SignedHeaders in the Authorization header")
}

#[tokio::test]
async fn botocore_computes_the_same_signature_and_a_changed_body_breaks_it() {
    let (url, capture) = capture_server(vec![]).await;
    let client = iam_client(&url, fixed_credentials()).await;
    let input = json!({"text": "héllo wörld, 1+1=2 & more", "sizes": [[160, 120]]});
    client
        .call_raw(
            &"test/Echo/1.*".parse().expect("path"),
            Input::json(&input).expect("JSON input"),
            &CallOptions {
                stdout: true,
                ..CallOptions::default()
            },
        )
        .await
        .expect("the capture server answers 200");

    let requests = capture.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/algo/test/Echo/1.*");
    assert_eq!(request.query, "timeout=300&stdout=true&output=raw");
    assert_eq!(
        serde_json::from_slice::<Value>(&request.body).expect("JSON body"),
        input
    );
    let authorization = request.header("authorization").expect("signed");
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")),
        "{authorization}"
    );
    assert!(
        authorization.contains(&format!("/{REGION}/lambda/aws4_request, ")),
        "{authorization}"
    );
    assert_eq!(
        signed_headers(authorization),
        "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
    );
    assert_eq!(request.header("x-amz-security-token"), Some(SESSION_TOKEN));

    let credentials = Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some(SESSION_TOKEN.to_owned()),
        None,
        "test",
    );
    let mut tampered = request.clone();
    tampered.body[0] ^= 0x01;
    let recomputed = botocore_authorization(&[(request, &credentials), (&tampered, &credentials)]);

    assert_eq!(recomputed[0].authorization, authorization);
    assert!(
        recomputed[0].body_sha256_matches,
        "x-amz-content-sha256 is the SHA-256 of the bytes sent"
    );
    assert_ne!(
        recomputed[1].authorization, authorization,
        "one body byte changed must change the signature"
    );
    assert!(!recomputed[1].body_sha256_matches);
}

#[tokio::test]
async fn every_retry_is_signed_afresh_with_the_credentials_of_that_moment() {
    let (url, capture) = capture_server(vec![
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
    ])
    .await;
    let provider = Rotating::default();
    let client = iam_client(&url, SharedCredentialsProvider::new(provider.clone())).await;
    client
        .call(
            &"test/Echo".parse().expect("path"),
            Input::Text("third time lucky".into()),
            &CallOptions::default(),
        )
        .await
        .expect("the third attempt succeeds");

    let requests = capture.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 3, "two retries");
    assert_eq!(
        provider.0.load(Ordering::SeqCst),
        3,
        "credentials asked for once per attempt"
    );
    let credentials: Vec<Credentials> = (1..=3).map(numbered).collect();
    let pairs: Vec<(&Captured, &Credentials)> = requests.iter().zip(&credentials).collect();
    let recomputed = botocore_authorization(&pairs);
    for (n, (request, again)) in requests.iter().zip(&recomputed).enumerate() {
        let sent = request.header("authorization").expect("signed");
        assert!(
            sent.contains(&format!("Credential=AKIDROTATE{}/", n + 1)),
            "attempt {}: {sent}",
            n + 1
        );
        assert_eq!(again.authorization, sent, "attempt {}", n + 1);
        assert_eq!(
            request.header("x-amz-security-token"),
            Some(format!("rotating-token-{}", n + 1).as_str())
        );
    }
}

#[tokio::test]
async fn no_secret_reaches_logs_errors_or_debug_output_and_a_refusal_names_iam() {
    let logs = CapturedLogs::start();
    let (url, capture) = capture_server(vec![StatusCode::FORBIDDEN]).await;
    let client = iam_client(&url, fixed_credentials()).await;
    let mut seen = format!("{client:?}\n");
    let err = client
        .call(
            &"test/Echo".parse().expect("path"),
            Input::Text("x".into()),
            &CallOptions::default(),
        )
        .await
        .expect_err("403");
    assert!(
        matches!(err, AlgorithmError::Unauthorized { status: 403, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("ALGORITHMIA_AUTH is iam") && message.contains("lambda:InvokeFunctionUrl"),
        "a refusal in IAM mode points at the role, not an API key: {message}"
    );
    assert!(!message.contains("ALGORITHMIA_API_KEY"), "{message}");
    seen.push_str(&format!("{err}\n{err:?}\n"));

    let (unused_url, unused) = capture_server(vec![]).await;
    let no_role = iam_client(&unused_url, SharedCredentialsProvider::new(NoRole)).await;
    let err = no_role
        .call(
            &"test/Echo".parse().expect("path"),
            Input::Text("x".into()),
            &CallOptions::default(),
        )
        .await
        .expect_err("no credentials");
    assert!(matches!(err, AlgorithmError::Signing { .. }), "{err:?}");
    assert!(!err.is_retryable(), "missing credentials are configuration");
    assert!(err.to_string().contains("ALGORITHMIA_AUTH=iam"), "{err}");
    assert!(unused.requests.lock().expect("lock").is_empty());
    seen.push_str(&format!("{err}\n{err:?}\n{no_role:?}\n"));

    assert!(
        seen.contains("IamSigner") && seen.contains(REGION),
        "Debug shows the mode: {seen}"
    );
    let sent = capture.requests.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1, "a refusal is not retried");
    let text = logs.text();
    assert!(
        text.contains("x-amz-security-token:** redacted"),
        "the signer's own trace of the canonical request was captured: {text}"
    );
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        assert!(!seen.contains(secret), "secret in errors or Debug: {seen}");
        assert!(!text.contains(secret), "secret in logs: {text}");
    }
}
