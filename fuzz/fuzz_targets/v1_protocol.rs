//! The v1 request path of algo-server, as `call_algorithm` runs it, on arbitrary input:
//! the algorithm path (`AlgoPath`, the registry's version resolution), the query
//! (`CallOptions::from_query`), the body by `Content-Type` (`protocol::parse_input`), the
//! `Authorization` header, then the hosted algorithms' own input handling (Echo,
//! FaceDetection, SmartThumbnail, opencv/SmartThumbnail, SpeechToText and Predict without
//! their models) and the reply (`algorithm_reply`, `CallError` responses), which must
//! read back as a v1 envelope (`Reply`) the way the blueprints' client reads it. The body
//! is also read as a `Reply` and an `AsyncReply`, as a client reads a server's answer.
//!
//! Input: four lines (path, query, content type, authorization), then the body.
//! Nothing reaches the network: inputs that name an http(s) URL stop before the call.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use algo_server::algorithm::{CallInfo, Services};
use algo_server::algorithms::{echo, face, predict, speech, thumbnail};
use algo_server::protocol::{self, CallError, CallOptions};
use algo_server::{Config, Context, FetchPolicy, Fetcher, Input, Registry};
use algorithmia_v1::{AlgoPath, AsyncReply, OutputMode, Reply, key_from_authorization};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use clap::Parser;
use http::{HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tokio_util::sync::CancellationToken;

const DEFAULT_TIMEOUT: u64 = 300;
const MAX_TIMEOUT: u64 = 3000;

struct World {
    runtime: tokio::runtime::Runtime,
    registry: Registry,
    services: Arc<Services>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = Config::try_parse_from([
            "algo-server",
            "--allow-anonymous",
            "--max-image-pixels",
            "262144",
            "--max-media-seconds",
            "20",
            "--whisper-model",
            "/nonexistent/ggml-model.bin",
            "--models-dir",
            "/nonexistent/models",
        ])
        .expect("config");
        let mut registry = Registry::new()
            .with(echo::Echo)
            .with(face::FaceDetection)
            .with(thumbnail::SmartThumbnail)
            .with(thumbnail::OpencvSmartThumbnail);
        registry.register(Arc::new(speech::SpeechToText::from_config(&config)));
        registry.register(Arc::new(predict::Predict::from_config(&config)));
        let fetcher = {
            let _entered = runtime.enter();
            Fetcher::new(FetchPolicy::new(&[], 1 << 20, Duration::from_secs(1))).expect("fetcher")
        };
        let services = Arc::new(Services::new(
            Arc::new(fetcher),
            config.images.limits(),
            runtime.handle().clone(),
        ));
        World {
            runtime,
            registry,
            services,
        }
    })
}

/// Whether an input could make an algorithm fetch or upload (any http(s) reference).
fn mentions_url(input: &Input) -> bool {
    let text = match input {
        Input::Binary(_) => return false,
        Input::Text(text) => text.to_ascii_lowercase(),
        Input::Json(value) => value.to_string().to_ascii_lowercase(),
    };
    text.contains("http")
}

fn line(part: Option<&[u8]>) -> &[u8] {
    part.unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    let mut parts = data.splitn(5, |byte| *byte == b'\n');
    let path = String::from_utf8_lossy(line(parts.next())).into_owned();
    let query = std::str::from_utf8(line(parts.next()))
        .ok()
        .map(str::to_owned);
    let content_type = HeaderValue::from_bytes(line(parts.next())).ok();
    let authorization = line(parts.next());
    let body = Bytes::copy_from_slice(line(parts.next()));

    if let Ok(text) = std::str::from_utf8(authorization) {
        let key = key_from_authorization(text);
        assert!(key.len() <= text.len());
        assert_eq!(key, key.trim());
    }
    // A client reading this body as a server's answer.
    let _ = serde_json::from_slice::<Reply>(&body);
    let _ = serde_json::from_slice::<AsyncReply>(&body);

    let algo_path = path.parse::<AlgoPath>();
    if let Ok(parsed) = &algo_path {
        let again: AlgoPath = parsed
            .to_string()
            .parse()
            .expect("a parsed path prints as a path");
        assert_eq!(&again, parsed);
        assert!(parsed.url_path().starts_with("v1/algo/"));
    }
    let options = CallOptions::from_query(query.as_deref(), DEFAULT_TIMEOUT, MAX_TIMEOUT);
    if let Ok(options) = &options {
        assert!(options.timeout > Duration::ZERO);
        assert!(options.timeout <= Duration::from_secs(MAX_TIMEOUT));
    }
    let input = protocol::parse_input(content_type.as_ref(), body.clone());

    let (response, mode, echoed) = match (algo_path, options, input) {
        (Err(error), _, _) => (
            CallError::NotFound(error.to_string()).into_response(),
            OutputMode::Envelope,
            None,
        ),
        (Ok(algo_path), options, input) => match world.registry.resolve(&algo_path) {
            Err(error) => (
                CallError::NotFound(error.to_string()).into_response(),
                OutputMode::Envelope,
                None,
            ),
            Ok((algorithm, version)) => match (options, input) {
                (Err(error), _) | (_, Err(error)) => {
                    (error.into_response(), OutputMode::Envelope, None)
                }
                (Ok(options), Ok(input)) => {
                    if mentions_url(&input) {
                        return;
                    }
                    let echoed = (algorithm.name() == "Echo").then(|| input.clone());
                    let full_name = format!("{}/{}/{version}", algorithm.owner(), algorithm.name());
                    let call = CallInfo {
                        request_id: "fuzz".to_owned(),
                        user: "fuzz".to_owned(),
                        version,
                        params: options.params.clone(),
                        timeout: options.timeout,
                    };
                    let ctx =
                        Context::new(call, Arc::clone(&world.services), CancellationToken::new());
                    let outcome = algorithm.call(input, &ctx);
                    if let Err(error) = &outcome {
                        assert!(!error.message.is_empty());
                    }
                    let response = match options.output {
                        OutputMode::Void => protocol::async_reply("fuzz"),
                        mode => {
                            let info = protocol::ReplyInfo {
                                request_id: Some("fuzz".to_owned()),
                                stdout: None,
                                algorithm: full_name,
                            };
                            protocol::algorithm_reply(outcome, Duration::ZERO, mode, info)
                        }
                    };
                    (response, options.output, echoed)
                }
            },
        },
    };
    check_reply(world, response, mode, echoed);
});

/// Every answer reads back as the client expects: an envelope (or an async reply, or a
/// raw success), errors with their message in `x-error-message` too.
fn check_reply(world: &World, response: Response, mode: OutputMode, echoed: Option<Input>) {
    let status = response.status();
    let has_message_header = response
        .headers()
        .contains_key(algorithmia_v1::ERROR_MESSAGE_HEADER);
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let body = world
        .runtime
        .block_on(response.into_body().collect())
        .expect("a reply body")
        .to_bytes();
    if status == StatusCode::OK && mode == OutputMode::Raw {
        return;
    }
    if status == StatusCode::OK && mode == OutputMode::Void {
        let reply: AsyncReply = serde_json::from_slice(&body).expect("an async reply");
        assert_eq!(reply.request_id, "fuzz");
        return;
    }
    assert_eq!(
        content_type.as_ref().map(HeaderValue::as_bytes),
        Some(algorithmia_v1::mime::JSON.as_bytes())
    );
    let reply: Reply = serde_json::from_slice(&body).unwrap_or_else(|error| {
        panic!(
            "HTTP {status}: the body is not a v1 envelope ({error}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    match reply {
        Reply::Error { error, .. } => {
            assert!(has_message_header, "HTTP {status}: no x-error-message");
            assert!(error.error_type.is_some(), "error without error_type");
            assert!(echoed.is_none() || status != StatusCode::OK, "Echo failed");
        }
        Reply::Success { result, .. } => {
            assert_eq!(status, StatusCode::OK);
            match echoed {
                Some(Input::Json(value)) => assert_eq!(result, value, "Echo changed JSON"),
                Some(Input::Text(text)) => {
                    assert_eq!(result, serde_json::Value::String(text), "Echo changed text")
                }
                _ => {}
            }
        }
    }
}
