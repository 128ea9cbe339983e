//! The port every hosted algorithm plugs into: [`Algorithm`], its [`Input`] and
//! [`Output`], the [`Context`] it runs with, and [`AlgoError`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use algo_vision::Limits;
use algorithmia_v1::{ContentType, ErrorKind, Version};
use bytes::Bytes;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::data::{Caller, Data, DataPath};
use crate::fetch::{FetchError, Fetcher};
use crate::pool::WorkerSlot;

/// The request body, by kind (from its `Content-Type`).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Json(Value),
    Text(String),
    Binary(Bytes),
}

/// What an algorithm returns; its kind becomes `metadata.content_type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Json(Value),
    Text(String),
    /// Sent base64-encoded with `content_type: "binary"` (raw bytes with `output=raw`).
    Binary(Vec<u8>),
    /// Nothing to return: the result was written elsewhere (for example to an `output_url`).
    Void,
}

impl Output {
    pub fn content_type(&self) -> ContentType {
        match self {
            Output::Json(_) => ContentType::Json,
            Output::Text(_) => ContentType::Text,
            Output::Binary(_) => ContentType::Binary,
            Output::Void => ContentType::Void,
        }
    }
}

/// One line each about what an algorithm takes and returns, for `GET /v1/algorithms`.
#[derive(Debug, Clone, Copy)]
pub struct Description {
    pub input: &'static str,
    pub output: &'static str,
}

/// Why a call failed. Sent to the caller as an error envelope (HTTP 200, or 400 with
/// `output=raw`); the message must name the input field or setting at fault, and the
/// kind tells the caller whether a retry can help (only `InputError` blames the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AlgoError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AlgoError {
    /// The input is wrong: retrying the same call cannot help.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InputError,
            message: message.into(),
        }
    }

    /// The algorithm failed on a valid input, or cannot run yet (a missing model).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::AlgorithmError,
            message: message.into(),
        }
    }

    /// The call ran past its timeout and was abandoned.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::TimeoutError,
            message: message.into(),
        }
    }

    /// The error with its message prefixed by the input it is about.
    pub fn prefixed(self, what: &str) -> Self {
        Self {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

impl From<FetchError> for AlgoError {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::Timeout { .. } => AlgoError::timeout(error.to_string()),
            error if error.is_caller_fault() => AlgoError::input(error.to_string()),
            error => AlgoError::failed(error.to_string()),
        }
    }
}

/// An algorithm hosted by the server.
///
/// `call` runs on a worker thread of the bounded CPU pool, never on the async runtime:
/// it may block (decode, infer, or fetch through [`Context::fetch`]).
pub trait Algorithm: Send + Sync + 'static {
    /// The account part of the path, as in `blueprints` of `blueprints/Echo/1.0.0`.
    fn owner(&self) -> &str;
    /// The algorithm part of the path, as in `Echo`.
    fn name(&self) -> &str;
    /// Published versions; a call's version spec resolves to the newest match.
    fn versions(&self) -> &[Version];
    fn description(&self) -> Description;
    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError>;

    /// A shared resource calls must hold to run (Whisper's inference slots, say). The
    /// server waits for a permit before giving the call a worker thread, so calls
    /// queued for the resource never hold workers other algorithms need.
    fn gate(&self) -> Option<Arc<tokio::sync::Semaphore>> {
        None
    }

    /// The URL `input` asks the result to be written to, if any. The server checks it
    /// (scheme, the addresses its host resolves to) before any work, and before it
    /// answers an `output=void` call, so a refused URL is reported to the caller.
    fn output_url(&self, _input: &Input) -> Option<String> {
        None
    }
}

/// What the server shares with every call: the URL fetcher and the input limits.
pub struct Services {
    pub fetcher: Arc<Fetcher>,
    pub limits: Limits,
    /// The Data API, for `data://` inputs and outputs (none: such URIs are refused).
    pub data: Option<Arc<Data>>,
    /// FaceDetection's and SmartThumbnail's face detector (`--face-detector`).
    pub faces: algo_vision::Detector,
    runtime: tokio::runtime::Handle,
}

impl Services {
    /// `runtime` runs the fetcher's async work for blocking algorithm code.
    pub fn new(fetcher: Arc<Fetcher>, limits: Limits, runtime: tokio::runtime::Handle) -> Self {
        Self {
            fetcher,
            limits,
            data: None,
            faces: algo_vision::Detector::Seeta,
            runtime,
        }
    }

    pub fn with_faces(self, faces: algo_vision::Detector) -> Self {
        Self { faces, ..self }
    }

    pub fn with_data(self, data: Arc<Data>) -> Self {
        Self {
            data: Some(data),
            ..self
        }
    }
}

/// One call as the algorithm sees it.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The request id (`x-request-id`), also the `request_id` of an async reply.
    pub request_id: String,
    /// The user the caller's API key acts as (whose `data://.my` the call sees).
    pub user: String,
    /// The version the call resolved to.
    pub version: Version,
    /// Query parameters other than the protocol's own (`timeout`, `output`, `stdout`).
    pub params: BTreeMap<String, String>,
    /// The call's timeout (the `timeout` query parameter or the server default).
    pub timeout: Duration,
}

/// What an algorithm may use during one call.
#[derive(Clone)]
pub struct Context {
    pub call: CallInfo,
    services: Arc<Services>,
    cancel: CancellationToken,
    worker: Arc<WorkerSlot>,
    stdout: Stdout,
}

/// What an algorithm printed during a call (`metadata.stdout` with `stdout=true`).
#[derive(Debug, Clone, Default)]
pub struct Stdout(Arc<std::sync::Mutex<String>>);

impl Stdout {
    /// Everything printed so far, leaving the buffer empty.
    pub fn take(&self) -> String {
        self.0
            .lock()
            .map(|mut text| std::mem::take(&mut *text))
            .unwrap_or_default()
    }
}

impl Context {
    pub fn new(call: CallInfo, services: Arc<Services>, cancel: CancellationToken) -> Self {
        Self {
            call,
            services,
            cancel,
            worker: Arc::default(),
            stdout: Stdout::default(),
        }
    }

    /// The buffer [`Context::print`] writes to.
    pub fn stdout(&self) -> Stdout {
        self.stdout.clone()
    }

    /// Prints a line to the call's stdout (returned to a caller who asked `stdout=true`).
    pub fn print(&self, line: impl AsRef<str>) {
        if let Ok(mut text) = self.stdout.0.lock() {
            text.push_str(line.as_ref());
            text.push('\n');
        }
    }

    fn caller(&self) -> Caller {
        Caller {
            user: self.call.user.clone(),
        }
    }

    /// Runs blocking Data API work with the worker handed back to the pool meanwhile.
    fn with_data<T>(
        &self,
        uri: &str,
        what: &str,
        work: impl FnOnce(&Data, &Caller, &DataPath) -> Result<T, crate::data::DataError>,
    ) -> Result<T, AlgoError> {
        let data = self.services.data.as_ref().ok_or_else(|| {
            AlgoError::input(format!(
                "{what}: this server has no Data API for data:// URIs"
            ))
        })?;
        let caller = self.caller();
        let path = DataPath::parse(uri, &caller)
            .map_err(|error| AlgoError::input(format!("{what}: {error}")))?;
        let runtime = &self.services.runtime;
        let result = self
            .worker
            .idle(runtime, &self.cancel, || Some(work(data, &caller, &path)))
            .flatten();
        match result {
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) if error.is_caller_fault() => {
                Err(AlgoError::input(format!("{what}: {error}")))
            }
            Some(Err(error)) => Err(AlgoError::failed(format!("{what}: {error}"))),
            None => Err(self
                .check_cancelled()
                .err()
                .unwrap_or_else(|| AlgoError::timeout(format!("{what}: abandoned")))),
        }
    }

    /// The worker slot the pool runs this call in (see [`WorkerSlot::idle`]).
    pub fn worker(&self) -> Arc<WorkerSlot> {
        Arc::clone(&self.worker)
    }

    /// Server-wide limits on input images (`--max-image-pixels`).
    pub fn limits(&self) -> Limits {
        self.services.limits
    }

    /// The face detector the server chose at start (`--face-detector`).
    pub fn face_detector(&self) -> &algo_vision::Detector {
        &self.services.faces
    }

    /// A query parameter of the call that is not one of the protocol's own.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.call.params.get(name).map(String::as_str)
    }

    /// Whether the call was abandoned (timeout, or the caller went away).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// `Err` once the call was abandoned: long algorithms call this between steps so
    /// abandoned work stops and frees its worker.
    pub fn check_cancelled(&self) -> Result<(), AlgoError> {
        if self.is_cancelled() {
            Err(AlgoError::timeout(format!(
                "the call ran past its timeout of {} s (query parameter `timeout`) and was abandoned",
                self.call.timeout.as_secs()
            )))
        } else {
            Ok(())
        }
    }

    /// Sleeps up to `duration`, waking early (with `Err`) if the call is abandoned.
    pub fn sleep(&self, duration: Duration) -> Result<(), AlgoError> {
        let cancel = self.cancel.clone();
        self.services.runtime.block_on(async move {
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                () = cancel.cancelled() => {}
            }
        });
        self.check_cancelled()
    }

    /// GETs an `http(s)` URL under the server's fetch rules (SSRF checks, size cap,
    /// timeout). `what` names the input field in error messages, e.g. "input `image`".
    pub fn fetch(&self, url: &str, what: &str) -> Result<Bytes, AlgoError> {
        if url.trim_start().starts_with("data://") {
            return self.with_data(url.trim(), what, |data, caller, path| {
                data.read(caller, path)
            });
        }
        let fetcher = Arc::clone(&self.services.fetcher);
        let cancel = self.cancel.clone();
        let url = url.to_owned();
        let runtime = &self.services.runtime;
        // The worker goes back to the pool while this thread waits on the network.
        let result = self
            .worker
            .idle(runtime, &self.cancel, || {
                runtime.block_on(async move {
                    tokio::select! {
                        result = fetcher.get(&url) => Some(result),
                        () = cancel.cancelled() => None,
                    }
                })
            })
            .flatten();
        match result {
            Some(Ok(body)) => Ok(body),
            Some(Err(error)) => Err(prefixed(what, error.into())),
            None => self.check_cancelled().map(|()| Bytes::new()),
        }
    }

    /// PUTs `body` to an `http(s)` URL (such as a presigned S3 PUT URL) under the same
    /// rules as [`Context::fetch`]; redirects are not followed.
    pub fn put(
        &self,
        url: &str,
        body: Vec<u8>,
        content_type: &str,
        what: &str,
    ) -> Result<(), AlgoError> {
        if url.trim_start().starts_with("data://") {
            return self.with_data(url.trim(), what, |data, caller, path| {
                data.write(caller, path, Bytes::from(body))
            });
        }
        let fetcher = Arc::clone(&self.services.fetcher);
        let cancel = self.cancel.clone();
        let url = url.to_owned();
        let content_type = content_type.to_owned();
        let runtime = &self.services.runtime;
        let result = self
            .worker
            .idle(runtime, &self.cancel, || {
                runtime.block_on(async move {
                    tokio::select! {
                        result = fetcher.put(&url, body, &content_type) => Some(result),
                        () = cancel.cancelled() => None,
                    }
                })
            })
            .flatten();
        match result {
            Some(result) => result.map_err(|error| prefixed(what, error.into())),
            None => self.check_cancelled(),
        }
    }
}

fn prefixed(what: &str, error: AlgoError) -> AlgoError {
    error.prefixed(what)
}
