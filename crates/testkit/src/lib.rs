//! Test support shared by the workspace's integration tests.
//!
//! `make test` starts one moto server and exports its URL as `MOTO_ENDPOINT`; tests
//! that need AWS services call [`moto_config`]. Each test names its resources with
//! [`unique`] because moto's state is shared by all tests of a run.

mod cold_start;
mod outage;
mod services;
mod text;

pub use cold_start::{
    assert_cold_start_messages, assert_message, failed_cold_start, kms_ciphertext, moto_env,
};
pub use local_trigger::{StreamReader, lambda_event};
pub use outage::OutageProxy;
pub use services::{
    AlgoServer, FailRule, Gateway, GatewayCounters, algo_server_bin, workspace_bin,
};
pub use text::{word_error_rate, words};

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The moto server `make test` started.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set: run the tests with `make test`, which starts moto, \
             or start `.venv/bin/moto_server -H 127.0.0.1 -p PORT` and export MOTO_ENDPOINT=http://127.0.0.1:PORT"
        )
    })
}

/// SDK configuration for moto: fixed region, dummy credentials, its endpoint.
pub async fn moto_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto_endpoint())
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// Creates a table keyed by the string attribute `id`, with a `NEW_AND_OLD_IMAGES`
/// stream, as the dynamodb-predict template does; returns its name (`prefix-<random>`)
/// and its stream's ARN.
pub async fn table_with_stream(
    dynamodb: &aws_sdk_dynamodb::Client,
    prefix: &str,
) -> (String, String) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        StreamSpecification, StreamViewType,
    };
    let table = unique(prefix);
    let created = dynamodb
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream"),
        )
        .send()
        .await
        .expect("create table");
    let stream = created
        .table_description()
        .and_then(|t| t.latest_stream_arn())
        .expect("stream ARN")
        .to_owned();
    (table, stream)
}

/// A name no other test of this run uses: `prefix-<random>`, lowercase for S3.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", fastrand::u32(..))
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// Waits until something accepts connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A child process killed (by its PID) and reaped when dropped.
pub struct ChildGuard {
    pub child: Child,
    pub name: String,
}

impl ChildGuard {
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        Self {
            child,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root (for models/ and fixtures/).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|p| p.join("Cargo.lock").exists() || p.join(".git").exists())
        .unwrap_or(here)
        .to_path_buf()
}

/// Everything logged through `tracing` since [`CapturedLogs::start`], as text.
///
/// The capture is the process-wide default subscriber: a thread-local one misses
/// events when `tracing` caches a callsite's interest on another thread first.
/// Tests running in parallel write to the same buffer, which only ever adds lines.
#[derive(Clone)]
pub struct CapturedLogs {
    from: usize,
}

static LOG_BUFFER: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut inner) = self.0.lock() {
            inner.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    pub fn start() -> Self {
        let buffer = LOG_BUFFER.get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = LogWriter(buffer.clone());
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            let _ = tracing::subscriber::set_global_default(subscriber);
            buffer
        });
        let from = buffer.lock().map(|b| b.len()).unwrap_or(0);
        Self { from }
    }

    pub fn text(&self) -> String {
        let bytes = LOG_BUFFER
            .get()
            .and_then(|b| b.lock().ok().map(|b| b[self.from.min(b.len())..].to_vec()))
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
