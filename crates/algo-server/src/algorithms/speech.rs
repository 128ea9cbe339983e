//! `blueprints/SpeechToText/1.0.0`: the words spoken in a video or audio file, with
//! times, by Whisper (whisper.cpp). The heavy lifting lives in the `algo-speech` crate;
//! this adapter reads the input, fetches media, and writes results to `output_url`.

use std::sync::Arc;

use tokio::sync::Semaphore;

use algo_speech::{
    DecodeLimits, TranscribeError, TranscribeOptions, Transcriber, Transcript, WhisperModel,
};
use algorithmia_v1::contracts::speech_to_text;
use algorithmia_v1::{ErrorBody, Reply, Version};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};
use crate::config::Config;

pub struct SpeechToText {
    /// The shared model, or why it could not be loaded (told to every caller).
    engine: Result<Arc<Transcriber>, String>,
    limits: DecodeLimits,
    /// One permit per transcription that may run at once: calls wait here, not on a
    /// worker thread.
    gate: Option<Arc<Semaphore>>,
}

/// What one call asks for.
struct Request {
    media: Media,
    options: TranscribeOptions,
}

enum Media {
    Bytes(Bytes),
    /// A URL, and how error messages name it.
    Url(String, &'static str),
}

impl SpeechToText {
    /// Loads the model `config` names. A missing or broken model does not stop the
    /// server: the algorithm is still listed and each call answers why it cannot run.
    pub fn from_config(config: &Config) -> Self {
        let limits = DecodeLimits {
            max_seconds: config.max_media_seconds as f64,
            max_samples_per_byte: config.max_media_samples_per_byte,
        };
        let engine = WhisperModel::load(&config.whisper_model)
            .map(|model| Arc::new(Transcriber::new(model, whisper_threads(config))))
            .map_err(|error| {
                tracing::warn!(%error, "SpeechToText is listed but cannot run until the model exists");
                error.to_string()
            });
        let gate = engine
            .as_ref()
            .ok()
            .map(|engine| Arc::new(Semaphore::new(engine.concurrency())));
        Self {
            engine,
            limits,
            gate,
        }
    }

    fn transcribe(&self, request: &Request, ctx: &Context) -> Result<Transcript, AlgoError> {
        let engine = self
            .engine
            .as_ref()
            .map_err(|reason| AlgoError::failed(reason.clone()))?;
        engine
            .check_options(&request.options)
            .map_err(option_error)?;
        let bytes = match &request.media {
            Media::Bytes(bytes) => bytes.clone(),
            Media::Url(url, what) => ctx.fetch(url, what)?,
        };
        ctx.check_cancelled()?;
        let audio = algo_speech::decode(&bytes, self.limits).map_err(|error| {
            let message = format!("input media: {error}");
            if error.is_input_fault() {
                AlgoError::input(message)
            } else {
                AlgoError::failed(message)
            }
        })?;
        drop(bytes);
        ctx.check_cancelled()?;
        let cancelled = || ctx.is_cancelled();
        engine
            .transcribe(&audio, &request.options, &cancelled)
            .map_err(|error| match error {
                TranscribeError::Cancelled => ctx
                    .check_cancelled()
                    .err()
                    .unwrap_or_else(|| AlgoError::timeout("the transcription was cancelled")),
                error => option_error(error),
            })
    }
}

impl Algorithm for SpeechToText {
    fn owner(&self) -> &str {
        super::OWNER
    }

    fn name(&self) -> &str {
        "SpeechToText"
    }

    fn versions(&self) -> &[Version] {
        &super::V1_0_0
    }

    fn description(&self) -> Description {
        Description {
            input: "media bytes (MP4/MOV/M4A with AAC, MP3, WAV, FLAC, Ogg), a media URL, or {\"url\", \"language\"?, \"initial_prompt\"?, \"output_url\"?}",
            output: "{\"text\", \"language\", \"duration\", \"segments\": [{\"start\", \"end\", \"text\"}]} in seconds; with output_url, PUT there instead (use output=void)",
        }
    }

    fn gate(&self) -> Option<Arc<Semaphore>> {
        self.gate.clone()
    }

    fn output_url(&self, input: &Input) -> Option<String> {
        output_url(input).ok().flatten()
    }

    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError> {
        // Read first: once it is known, every later failure is written there too.
        let output_url = output_url(&input)?;
        let outcome = parse_request(input, ctx).and_then(|request| self.transcribe(&request, ctx));
        let Some(output_url) = output_url else {
            return outcome.map(|transcript| Output::Json(json!(transcript)));
        };
        // Asynchronous mode: the result, or the error, goes to `output_url`.
        let body = match &outcome {
            Ok(transcript) => json!(transcript),
            Err(error) => json!(Reply::Error {
                error: ErrorBody::typed(error.kind.clone(), error.message.clone()),
                metadata: None,
            }),
        };
        let written = ctx.put(
            &output_url,
            body.to_string().into_bytes(),
            "application/json",
            "input field `output_url`",
        );
        match (outcome, written) {
            (Ok(_), Ok(())) => Ok(Output::Void),
            (Err(error), Ok(())) => Err(error),
            (Ok(_), Err(put_error)) => Err(put_error),
            (Err(error), Err(put_error)) => Err(AlgoError {
                message: format!(
                    "{}; and the error could not be written to `output_url`: {}",
                    error.message, put_error.message
                ),
                ..error
            }),
        }
    }
}

fn parse_request(input: Input, ctx: &Context) -> Result<Request, AlgoError> {
    // Options for byte input come from the query string (`?language=en`).
    let mut options = TranscribeOptions {
        language: ctx.param("language").map(str::to_owned),
        initial_prompt: ctx.param("initial_prompt").map(str::to_owned),
    };
    let media = match input {
        Input::Binary(bytes) if bytes.is_empty() => {
            return Err(AlgoError::input(
                "the input is empty: send media bytes, a media URL, or {\"url\": URL}",
            ));
        }
        Input::Binary(bytes) => Media::Bytes(bytes),
        Input::Text(url) | Input::Json(Value::String(url)) => Media::Url(url, "input URL"),
        Input::Json(object @ Value::Object(_)) => {
            let request = request_from_object(&object)?;
            options.language = request.language.or(options.language);
            options.initial_prompt = request.initial_prompt.or(options.initial_prompt);
            return Ok(Request {
                media: Media::Url(request.url, "input field `url`"),
                options,
            });
        }
        other => {
            return Err(AlgoError::input(format!(
                "input must be media bytes, a media URL, or {{\"url\": URL, \"output_url\"?: URL}}, not {}",
                super::kind_of(&other)
            )));
        }
    };
    Ok(Request { media, options })
}

/// The object input as the shared contract, each error naming the field.
fn request_from_object(object: &Value) -> Result<speech_to_text::Request, AlgoError> {
    let url = super::field(object, "url")?.as_str().ok_or_else(|| {
        AlgoError::input(
            "input field `url` must be a string: an http(s) URL or data:// URI of the media",
        )
    })?;
    Ok(speech_to_text::Request {
        url: url.to_owned(),
        output_url: optional_string(object, "output_url")?,
        language: optional_string(object, "language")?,
        initial_prompt: optional_string(object, "initial_prompt")?,
    })
}

/// The `output_url` of an object input, checked before any work (not after it).
fn output_url(input: &Input) -> Result<Option<String>, AlgoError> {
    let Input::Json(object @ Value::Object(_)) = input else {
        return Ok(None);
    };
    let url = optional_string(object, "output_url")?;
    if let Some(url) = &url {
        check_http_url(url, "output_url")?;
    }
    Ok(url)
}

fn option_error(error: TranscribeError) -> AlgoError {
    if error.is_input_fault() {
        AlgoError::input(format!("input field {error}"))
    } else {
        AlgoError::failed(error.to_string())
    }
}

/// `--whisper-threads`, or every CPU.
fn whisper_threads(config: &Config) -> usize {
    config
        .whisper_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn optional_string(object: &Value, name: &str) -> Result<Option<String>, AlgoError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(AlgoError::input(format!(
            "input field `{name}` must be a string"
        ))),
    }
}

/// Refuses a malformed `output_url` before the work, not after it.
fn check_http_url(url: &str, name: &str) -> Result<(), AlgoError> {
    if url.trim_start().starts_with("data://") {
        return Ok(());
    }
    match url::Url::parse(url.trim()) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        Ok(parsed) => Err(AlgoError::input(format!(
            "input field `{name}` must be an http(s) URL (a presigned PUT URL) or a data:// URI, not {}:",
            parsed.scheme()
        ))),
        Err(error) => Err(AlgoError::input(format!(
            "input field `{name}` is not a valid URL: {error}"
        ))),
    }
}
