//! The Data API (`/v1/data/...`, `data://` URIs) and the protocol details the official
//! clients rely on, against the real binary over HTTP.

mod common;

use axum::http::{Method, StatusCode, header};
use common::{MotoBucket, Server, client, fixture};
use serde_json::{Value, json};

const ALICE: &str = "alice-key-1";
const BOB: &str = "bob-key-2";

/// Where the server under test keeps its files.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// `--data-dir` on a fresh temporary directory.
    Local,
    /// `--data-s3-bucket` on a fresh moto bucket, keys under `data/`.
    S3,
}

const S3_PREFIX: &str = "data/";

struct Users {
    server: Server,
    _dir: TempDir,
    bucket: Option<MotoBucket>,
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(backend: Backend, extra: &[&str]) -> Users {
    let dir = std::env::temp_dir().join(format!("algo-data-{:016x}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let data_dir = dir.display().to_string();
    let alice = format!("alice:{ALICE}");
    let bob = format!("bob:{BOB}");
    let mut args = vec![
        "--api-key",
        &alice,
        "--api-key",
        &bob,
        "--enable-test-algorithms",
    ];
    let bucket = match backend {
        Backend::Local => None,
        Backend::S3 => Some(MotoBucket::new("data-api").await),
    };
    match &bucket {
        None => args.extend(["--data-dir", &data_dir]),
        Some(bucket) => args.extend([
            "--data-s3-bucket",
            &bucket.name,
            "--data-s3-prefix",
            S3_PREFIX,
        ]),
    }
    args.extend_from_slice(extra);
    let env = match backend {
        Backend::Local => Vec::new(),
        Backend::S3 => blueprint_testkit::moto_env(),
    };
    let server = Server::start_with_env(&args, &env).expect("server starts");
    Users {
        server,
        _dir: TempDir(dir),
        bucket,
    }
}

/// Runs a scenario against each backend, as `<scenario>::local` and `<scenario>::s3`.
macro_rules! on_each_backend {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn local() {
                super::$scenario(super::Backend::Local).await;
            }
            #[tokio::test]
            async fn s3() {
                super::$scenario(super::Backend::S3).await;
            }
        }
    )*};
}

on_each_backend!(
    files_and_directories_round_trip,
    listings_page_with_markers,
    one_user_cannot_reach_another_users_space,
    algorithms_read_and_write_data_uris,
);

impl Users {
    fn root(&self) -> std::path::PathBuf {
        self._dir.0.clone()
    }

    async fn send(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        client()
            .request(method, self.server.url(path))
            .header(header::AUTHORIZATION, format!("Simple {key}"))
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// Sends `path` as Alice with GET, PUT and DELETE; each must be refused (400, 403 or
    /// 404). The answers' bodies come back for the caller's checks on what leaked.
    async fn refused(&self, path: &str) -> Vec<(Method, String)> {
        let mut answers = Vec::new();
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let response = self.send(ALICE, method.clone(), path, "pwned").await;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(
                matches!(
                    status,
                    StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
                ),
                "{method} {path}: {status} {text}"
            );
            answers.push((method, text));
        }
        answers
    }

    async fn call(&self, key: &str, path: &str, content_type: &str, body: String) -> Value {
        let response = client()
            .post(self.server.url(path))
            .header(header::AUTHORIZATION, format!("Simple {key}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("call");
        client_json(response).await
    }

    async fn json(&self, key: &str, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let response = self.send(key, method, path, body.to_owned()).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

async fn files_and_directories_round_trip(backend: Backend) {
    let users = start(backend, &[]).await;
    let put = users
        .send(ALICE, Method::PUT, "/v1/data/.my/test/x.txt", "hello")
        .await;
    assert_eq!(put.status(), StatusCode::OK);
    let reply: Value = put.json().await.expect("JSON");
    assert_eq!(reply["result"], "data://alice/test/x.txt");
    if let Some(bucket) = &users.bucket {
        assert_eq!(bucket.keys().await, ["data/files/alice/test/x.txt"]);
    }

    let get = users
        .send(ALICE, Method::GET, "/v1/data/alice/test/x.txt", "")
        .await;
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.text().await.expect("text"), "hello");

    let head = users
        .send(ALICE, Method::HEAD, "/v1/data/.my/test/x.txt", "")
        .await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["x-data-type"], "file");
    assert!(head.headers().contains_key(header::LAST_MODIFIED));
    let missing = users
        .send(ALICE, Method::HEAD, "/v1/data/.my/test/nope.txt", "")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().contains_key("x-error-message"));

    let (status, listing) = users
        .json(ALICE, Method::GET, "/v1/data/.my/test", "")
        .await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["files"][0]["filename"], "x.txt");
    assert_eq!(listing["files"][0]["size"], 5);
    let modified = listing["files"][0]["last_modified"].as_str().expect("date");
    assert!(
        modified.ends_with('Z') && modified.len() == 24,
        "{modified}"
    );

    let (status, created) = users
        .json(
            ALICE,
            Method::POST,
            "/v1/data/.my/test",
            r#"{"name": "sub"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (status, _) = users
        .json(
            ALICE,
            Method::POST,
            "/v1/data/.my/test",
            r#"{"name": "sub"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, refused) = users
        .json(ALICE, Method::DELETE, "/v1/data/.my/test", "")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"]["message"]
            .as_str()
            .expect("message")
            .contains("force=true")
    );
    let (status, deleted) = users
        .json(ALICE, Method::DELETE, "/v1/data/.my/test?force=true", "")
        .await;
    assert_eq!(
        (status, deleted["result"]["deleted"].clone()),
        (StatusCode::OK, json!(1))
    );
    let (status, _) = users
        .json(ALICE, Method::GET, "/v1/data/.my/test", "")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn listings_page_with_markers(backend: Backend) {
    let users = start(backend, &["--data-page-size", "2"]).await;
    for name in ["a", "b", "c", "d", "e"] {
        let path = format!("/v1/data/.my/many/{name}.txt");
        assert_eq!(
            users.send(ALICE, Method::PUT, &path, name).await.status(),
            StatusCode::OK
        );
    }
    let mut names = Vec::new();
    let mut path = "/v1/data/.my/many".to_owned();
    for _ in 0..10 {
        let (status, page) = users.json(ALICE, Method::GET, &path, "").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for file in page["files"].as_array().expect("files") {
            names.push(file["filename"].as_str().expect("name").to_owned());
        }
        let Some(marker) = page["marker"].as_str() else {
            break;
        };
        path = format!(
            "/v1/data/.my/many?marker={}",
            form_urlencoded::byte_serialize(marker.as_bytes()).collect::<String>()
        );
    }
    assert_eq!(names, ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]);
}

async fn one_user_cannot_reach_another_users_space(backend: Backend) {
    let users = start(backend, &[]).await;
    assert_eq!(
        users
            .send(
                ALICE,
                Method::PUT,
                "/v1/data/.my/private/secret.txt",
                "alice's"
            )
            .await
            .status(),
        StatusCode::OK
    );
    // Bob's `.my` is his own: the same path there does not exist.
    let (status, _) = users
        .json(BOB, Method::GET, "/v1/data/.my/private/secret.txt", "")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (method, path) in [
        (Method::GET, "/v1/data/alice/private/secret.txt"),
        (Method::HEAD, "/v1/data/alice/private/secret.txt"),
        (Method::GET, "/v1/data/alice/private"),
        (Method::GET, "/v1/data/alice"),
        (Method::PUT, "/v1/data/alice/private/secret.txt"),
        (Method::DELETE, "/v1/data/alice/private?force=true"),
        (Method::GET, "/v1/data/alice/.algo/x"),
    ] {
        let response = users.send(BOB, method.clone(), path, "bob's").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    // A public collection may be read by others, never written.
    let (status, _) = users
        .json(
            ALICE,
            Method::POST,
            "/v1/data/.my",
            r#"{"name": "shared", "acl": {"read": ["user://*"]}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    users
        .send(ALICE, Method::PUT, "/v1/data/.my/shared/note.txt", "hi")
        .await;
    let read = users
        .send(BOB, Method::GET, "/v1/data/alice/shared/note.txt", "")
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let write = users
        .send(BOB, Method::PUT, "/v1/data/alice/shared/note.txt", "x")
        .await;
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let (status, acl) = users
        .json(ALICE, Method::GET, "/v1/data/.my/shared?acl=true", "")
        .await;
    assert_eq!(
        (status, acl["acl"].clone()),
        (StatusCode::OK, json!({"read": ["user://*"]}))
    );
    // Made private again: Bob is refused.
    let (status, _) = users
        .json(
            ALICE,
            Method::PATCH,
            "/v1/data/.my/shared",
            r#"{"acl": {"read": []}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let read = users
        .send(BOB, Method::GET, "/v1/data/alice/shared/note.txt", "")
        .await;
    assert_eq!(read.status(), StatusCode::FORBIDDEN);
    let (status, _) = users
        .json(
            ALICE,
            Method::PATCH,
            "/v1/data/.my/shared",
            r#"{"acl": {"read": ["user://bob"]}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn hostile_paths_never_leave_the_data_directory() {
    let users = start(Backend::Local, &[]).await;
    let outside = users.root().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::fs::write(outside.join("secret.txt"), "outside").expect("secret");
    // A link planted inside the tree (as a careless operator might) is never followed.
    users
        .send(ALICE, Method::PUT, "/v1/data/.my/c/x.txt", "x")
        .await;
    let link = users.root().join("files/alice/c/link");
    std::os::unix::fs::symlink(&outside, &link).expect("symlink");

    for path in [
        "/v1/data/.my/c/link/secret.txt",
        "/v1/data/.my/c/link",
        "/v1/data/.my/../outside/secret.txt",
        "/v1/data/.my/c/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
        "/v1/data/.my/c/..%2f..%2f..%2foutside%2fsecret.txt",
        "/v1/data/.my/c/%2Fetc%2Fpasswd",
        "/v1/data/%2Fetc/passwd",
        "/v1/data/.my/c/a%5C..%5C..%5Csecret.txt",
        "/v1/data/.my/c/a%00b",
        "/v1/data/.my/.acl/x",
        "/v1/data/.my//c/x.txt",
    ] {
        for (method, text) in users.refused(path).await {
            assert!(!text.contains("outside\""), "{method} {path}: {text}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).expect("still there"),
        "outside"
    );
    assert!(
        std::fs::read_dir(&outside).expect("dir").count() == 1,
        "nothing written outside"
    );
    // A hostile name that is merely odd is stored as a plain file inside the tree.
    let odd = "/v1/data/.my/c/%E2%80%AEtxt.exe%20..%20name";
    assert_eq!(
        users.send(ALICE, Method::PUT, odd, "odd").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        users
            .send(ALICE, Method::GET, odd, "")
            .await
            .text()
            .await
            .expect("text"),
        "odd"
    );
}

async fn algorithms_read_and_write_data_uris(backend: Backend) {
    let users = start(backend, &[]).await;
    let photo = fixture("astronaut.jpg");
    users
        .send(
            ALICE,
            Method::PUT,
            "/v1/data/.my/photos/astronaut.jpg",
            photo,
        )
        .await;

    let faces = users
        .call(
            ALICE,
            "/v1/algo/blueprints/FaceDetection",
            "text/plain",
            "data://.my/photos/astronaut.jpg".into(),
        )
        .await;
    assert!(
        !faces["result"]["faces"]
            .as_array()
            .expect("faces")
            .is_empty(),
        "{faces}"
    );

    let body = json!({
        "image": "data://.my/photos/astronaut.jpg",
        "width": 64, "height": 64, "format": "png",
        "output": "data://.algo/thumbs/astronaut.png",
    });
    let reply = client_json(
        client()
            .post(users.server.url("/v1/algo/blueprints/SmartThumbnail"))
            .header(header::AUTHORIZATION, format!("Simple {ALICE}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(
        reply["result"], "data://.algo/thumbs/astronaut.png",
        "{reply}"
    );
    let thumb = users
        .send(
            ALICE,
            Method::GET,
            "/v1/data/.algo/thumbs/astronaut.png",
            "",
        )
        .await
        .bytes()
        .await
        .expect("bytes");
    assert!(thumb.starts_with(b"\x89PNG"), "a PNG was written");

    // Bob's call cannot read Alice's photo, and says why.
    let refused = users
        .call(
            BOB,
            "/v1/algo/blueprints/FaceDetection",
            "application/json",
            "\"data://alice/photos/astronaut.jpg\"".into(),
        )
        .await;
    assert_eq!(refused["error"]["error_type"], "InputError", "{refused}");
    // An output URI Bob may not write fails before any work.
    let body = json!({"image": "data://.my/x.jpg", "width": 8, "height": 8, "output": "data://alice/photos/t.png"});
    let refused = client_json(
        client()
            .post(users.server.url("/v1/algo/blueprints/SmartThumbnail"))
            .header(header::AUTHORIZATION, format!("Simple {BOB}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .expect("message")
            .contains("output_url"),
        "{refused}"
    );
}

#[tokio::test]
async fn hostile_paths_never_leave_the_users_prefix_in_s3() {
    let users = start(Backend::S3, &[]).await;
    let bucket = users.bucket.as_ref().expect("S3 backend");
    bucket.put("outside/secret.txt", "outside").await;
    bucket.put("data/files/bob/c/secret.txt", "bob's").await;
    for path in [
        "/v1/data/.my/../outside/secret.txt",
        "/v1/data/.my/c/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
        "/v1/data/.my/c/..%2f..%2f..%2foutside%2fsecret.txt",
        "/v1/data/.my/c/..%2f..%2fbob%2fc%2fsecret.txt",
        "/v1/data/.my/c/%2Fetc%2Fpasswd",
        "/v1/data/%2Fetc/passwd",
        "/v1/data/.my/c/a%5C..%5C..%5Csecret.txt",
        "/v1/data/.my/c/a%00b",
        "/v1/data/.my/.acl/x",
        "/v1/data/.my//c/x.txt",
    ] {
        for (method, text) in users.refused(path).await {
            // The secrets' contents never come back (their paths may, in messages).
            assert!(
                text != "outside" && text != "bob's",
                "{method} {path}: {text}"
            );
        }
    }
    let odd = "/v1/data/.my/c/%E2%80%AEtxt.exe%20..%20name";
    assert_eq!(
        users.send(ALICE, Method::PUT, odd, "odd").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        bucket.keys().await,
        [
            "data/files/alice/c/\u{202e}txt.exe .. name",
            "data/files/bob/c/secret.txt",
            "outside/secret.txt",
        ]
    );
    assert_eq!(bucket.get("outside/secret.txt").await, b"outside");
    assert_eq!(bucket.get("data/files/bob/c/secret.txt").await, b"bob's");
}

#[tokio::test]
async fn objects_other_tools_wrote_to_the_bucket_are_listed_and_read() {
    let users = start(Backend::S3, &[]).await;
    let bucket = users.bucket.as_ref().expect("S3 backend");
    bucket
        .put("data/files/alice/imports/2026/a.csv", "x,y\n1,2\n")
        .await;
    let (status, listing) = users
        .json(ALICE, Method::GET, "/v1/data/.my/imports", "")
        .await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["folders"], json!([{"name": "2026"}]), "{listing}");
    let (status, listing) = users
        .json(ALICE, Method::GET, "/v1/data/.my/imports/2026", "")
        .await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["files"][0]["filename"], "a.csv", "{listing}");
    assert_eq!(listing["files"][0]["size"], 8, "{listing}");
    let read = users
        .send(ALICE, Method::GET, "/v1/data/.my/imports/2026/a.csv", "")
        .await;
    assert_eq!(read.text().await.expect("text"), "x,y\n1,2\n");
    // A file cannot be written under a file, nor replace a directory.
    let (status, refused) = users
        .json(ALICE, Method::PUT, "/v1/data/.my/imports/2026/a.csv/b", "x")
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let (status, refused) = users
        .json(ALICE, Method::PUT, "/v1/data/.my/imports/2026", "x")
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    // Deleting the collection removes every object under it, and only those.
    let (status, deleted) = users
        .json(ALICE, Method::DELETE, "/v1/data/.my/imports?force=true", "")
        .await;
    assert_eq!(
        (status, deleted["result"]["deleted"].clone()),
        (StatusCode::OK, json!(1))
    );
    assert!(bucket.keys().await.is_empty(), "{:?}", bucket.keys().await);
}

#[tokio::test]
async fn a_bucket_that_cannot_be_used_stops_the_start() {
    let missing = blueprint_testkit::unique("no-such-bucket");
    let printed = Server::start_with_env(
        &["--data-s3-bucket", &missing, "--allow-anonymous"],
        &blueprint_testkit::moto_env(),
    )
    .map(|server| server.base.clone())
    .expect_err("the server refuses to start");
    assert!(
        printed.contains(&format!(
            "the Data API bucket \"{missing}\" (--data-s3-bucket) cannot be used: it does not exist"
        )),
        "{printed}"
    );
}

#[tokio::test]
async fn speech_reads_media_from_and_writes_transcripts_to_data_uris() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = root.join("models/ggml-tiny.en.bin");
    let model = model.to_str().expect("UTF-8 path");
    let users = start(
        Backend::S3,
        &["--whisper-model", model, "--whisper-threads", "1"],
    )
    .await;
    let audio = std::fs::read(root.join("fixtures/generated/speech.wav"))
        .expect("fixtures/generated/speech.wav: run `make models fixtures` (make test does)");
    let reference = std::fs::read_to_string(root.join("fixtures/generated/speech.txt"))
        .expect("reference text");
    assert_eq!(
        users
            .send(ALICE, Method::PUT, "/v1/data/.my/audio/speech.wav", audio)
            .await
            .status(),
        StatusCode::OK
    );
    let body = json!({
        "url": "data://.my/audio/speech.wav",
        "output_url": "data://.algo/transcripts/speech.json",
    });
    let reply = users
        .call(
            ALICE,
            "/v1/algo/blueprints/SpeechToText",
            "application/json",
            body.to_string(),
        )
        .await;
    assert!(reply.get("error").is_none(), "{reply}");
    let written = users
        .send(
            ALICE,
            Method::GET,
            "/v1/data/.algo/transcripts/speech.json",
            "",
        )
        .await;
    assert_eq!(written.status(), StatusCode::OK);
    let transcript: Value = written.json().await.expect("transcript JSON");
    let text = transcript["text"].as_str().expect("text");
    let rate = blueprint_testkit::word_error_rate(&reference, text);
    assert!(rate <= 0.3, "WER {rate}: {text:?} vs {reference:?}");
    // Bob may not read Alice's recording through the algorithm either.
    let body = json!({"url": "data://alice/audio/speech.wav"});
    let refused = users
        .call(
            BOB,
            "/v1/algo/blueprints/SpeechToText",
            "application/json",
            body.to_string(),
        )
        .await;
    assert_eq!(refused["error"]["error_type"], "InputError", "{refused}");
}

async fn client_json(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[tokio::test]
async fn protocol_details_the_clients_read() {
    let users = start(Backend::Local, &[]).await;
    // `1.0` means `1.0.*`.
    let reply = users
        .call(
            ALICE,
            "/v1/algo/blueprints/Echo/1.0?stdout=True",
            "text/plain",
            "hi".into(),
        )
        .await;
    assert_eq!(reply["result"], "hi", "{reply}");
    assert_eq!(reply["metadata"]["stdout"], "echo: text input\n");
    let id = reply["metadata"]["request_id"]
        .as_str()
        .expect("request_id");
    assert_eq!(id.len(), 32, "{reply}");
    let quiet = client_json(
        users
            .send(
                ALICE,
                Method::POST,
                "/v1/algo/blueprints/Echo?stdout=false",
                "hi",
            )
            .await,
    )
    .await;
    assert!(quiet["metadata"].get("stdout").is_none(), "{quiet}");

    // Errors carry a trace under both names the clients read.
    let crash = client_json(
        users
            .send(ALICE, Method::POST, "/v1/algo/blueprints/Crash", "x")
            .await,
    )
    .await;
    let error = &crash["error"];
    assert_eq!(error["error_type"], "AlgorithmError", "{crash}");
    assert_eq!(error["stacktrace"], error["stack_trace"]);
    assert!(
        error["stack_trace"]
            .as_str()
            .expect("trace")
            .contains("blueprints/Crash/1.0.0")
    );

    // Algorithm info and versions.
    let (status, info) = users
        .json(
            ALICE,
            Method::GET,
            "/v1/algorithms/opencv/SmartThumbnail",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["version_info"]["semantic_version"], "2.1.3");
    let (status, versions) = users
        .json(
            ALICE,
            Method::GET,
            "/v1/algorithms/opencv/SmartThumbnail/versions",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&str> = versions["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|v| {
            v["version_info"]["semantic_version"]
                .as_str()
                .expect("version")
        })
        .collect();
    assert_eq!(listed, ["2.1.3", "2.1.2", "0.1.14"]);
    let (status, one) = users
        .json(
            ALICE,
            Method::GET,
            "/v1/algorithms/opencv/SmartThumbnail/versions/2.1",
            "",
        )
        .await;
    assert_eq!(
        (status, one["version_info"]["semantic_version"].clone()),
        (StatusCode::OK, json!("2.1.3"))
    );
    let (status, missing) = users
        .json(
            ALICE,
            Method::GET,
            "/v1/algorithms/nobody/Nothing/versions",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["error_type"], "NotFound");
    let (status, _) = users
        .json(
            "wrong",
            Method::GET,
            "/v1/algorithms/opencv/SmartThumbnail",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
