//! Whole-system tests: `end_to_end.rs` runs every blueprint through local delivery
//! against the HTTP algo-server, `lambda_server.rs` against algo-server as a Lambda
//! function behind its Function URL. This library is their shared harness: processes
//! stopped by PID, cargo-lambda's emulator, moto's S3 notifications.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use blueprint_testkit::{ChildGuard, moto_endpoint, unique, workspace_bin, workspace_root};
use local_trigger::AwsJson;
use serde_json::{Value, json};

/// How long a test waits for an output before it fails with the logs.
pub const WAIT: Duration = Duration::from_secs(180);

/// Processes started for the test, each logging to a file of `dir`; stopped by PID
/// when dropped.
pub struct Processes {
    pub dir: PathBuf,
    running: Vec<ChildGuard>,
}

impl Default for Processes {
    fn default() -> Self {
        Self::new()
    }
}

impl Processes {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("end-to-end"));
        std::fs::create_dir_all(&dir).expect("log directory");
        Self {
            dir,
            running: Vec::new(),
        }
    }

    pub fn start(&mut self, name: &str, command: &mut Command) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        let err = log.try_clone().expect("log file");
        command
            .stdout(log)
            .stderr(err)
            .current_dir(workspace_root());
        self.running.push(ChildGuard::spawn(name, command));
    }

    /// The last lines of every log, for a failure message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for guard in &self.running {
            let path = self.dir.join(format!("{}.log", guard.name));
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            text.push_str(&format!(
                "\n--- {} (pid {}) ---\n{tail}",
                guard.name,
                guard.pid()
            ));
        }
        text
    }

    /// Starts cargo-lambda's Runtime API emulator (`cargo lambda watch
    /// --only-lambda-apis`) on a free port; its port and base URL.
    pub fn start_runtime_api(&mut self) -> (u16, String) {
        let port = blueprint_testkit::free_port();
        self.start(
            "cargo-lambda-watch",
            Command::new(cargo_lambda())
                .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address"])
                .arg("127.0.0.1")
                .arg("--invoke-port")
                .arg(port.to_string()),
        );
        assert!(
            blueprint_testkit::wait_for_port(
                ([127, 0, 0, 1], port).into(),
                Duration::from_secs(60)
            ),
            "cargo lambda watch did not listen; logs:{}",
            self.logs()
        );
        (port, format!("http://127.0.0.1:{port}"))
    }

    /// The whole logs of the processes named `names`.
    pub fn logs_of(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|name| {
                let log = std::fs::read_to_string(self.dir.join(format!("{name}.log")));
                format!("\n--- {name} ---\n{}", log.unwrap_or_default())
            })
            .collect()
    }

    /// Waits for `check` to give a value, failing with the logs after [`WAIT`].
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                start.elapsed() < WAIT,
                "no {what} after {WAIT:?}; logs:{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

pub fn cargo_lambda() -> PathBuf {
    let path = workspace_root().join(".venv/bin/cargo-lambda");
    assert!(
        path.exists(),
        "{} is missing: `make venv` installs cargo-lambda (make test does)",
        path.display()
    );
    path
}

/// The `local-trigger` binary the test build made (its package has tests of its own,
/// so `cargo test --workspace --no-run` builds it).
pub fn local_trigger_bin() -> PathBuf {
    let path = workspace_bin("local-trigger");
    assert!(
        path.exists(),
        "{} is missing: `cargo test --workspace --no-run` builds it (make test does)",
        path.display()
    );
    path
}

/// Starts a blueprint binary against the emulator at `runtime`, as Lambda would.
pub fn start_function(
    processes: &mut Processes,
    runtime: &str,
    function: &str,
    bin: &str,
    env: &[(&str, String)],
) {
    let path = workspace_bin(bin);
    assert!(
        path.exists(),
        "{} is missing: `cargo test --workspace --no-run` builds it (make test does)",
        path.display()
    );
    let mut command = Command::new(path);
    command
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("{runtime}/.rt/{function}"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info")
        .env_remove("ALGORITHMIA_API_KEY")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    processes.start(function, &mut command);
}

/// An SQS queue moto delivers the bucket's notifications for `prefix` (and `suffix`) to.
pub async fn notify(
    s3: &aws_sdk_s3::Client,
    sqs: &AwsJson,
    bucket: &str,
    rules: &[&[(&str, &str)]],
) -> String {
    let queue = unique("events");
    let created = sqs
        .sqs("CreateQueue", json!({"QueueName": queue}))
        .await
        .expect("create queue");
    let url = created["QueueUrl"].as_str().expect("queue URL").to_owned();
    let attributes = sqs
        .sqs(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
        )
        .await
        .expect("queue attributes");
    let arn = attributes["Attributes"]["QueueArn"]
        .as_str()
        .expect("queue ARN");
    let mut configuration = NotificationConfiguration::builder();
    for rule_set in rules {
        let mut key = S3KeyFilter::builder();
        for (name, value) in *rule_set {
            let name = if *name == "prefix" {
                FilterRuleName::Prefix
            } else {
                FilterRuleName::Suffix
            };
            key = key.filter_rules(FilterRule::builder().name(name).value(*value).build());
        }
        configuration = configuration.queue_configurations(
            QueueConfiguration::builder()
                .queue_arn(arn)
                .events(Event::S3ObjectCreated)
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(key.build())
                        .build(),
                )
                .build()
                .expect("queue configuration"),
        );
    }
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(configuration.build())
        .send()
        .await
        .expect("bucket notifications");
    url
}

pub async fn keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list objects")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

pub async fn body(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> (Vec<u8>, Option<String>) {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object");
    let content_type = object.content_type().map(str::to_owned);
    let bytes = object.body.collect().await.expect("body").to_vec();
    (bytes, content_type)
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make models` first", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

/// The feature names `model` (`name/version`) declares, in order (`make models`).
pub fn model_features(model: &str) -> Vec<String> {
    let path = workspace_root().join(format!("models/predict/{model}/manifest.json"));
    read_json(&path)["features"]
        .as_array()
        .expect("manifest features")
        .iter()
        .map(|f| f["name"].as_str().expect("feature name").to_owned())
        .collect()
}
