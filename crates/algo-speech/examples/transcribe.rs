//! Transcribes a media file and prints the transcript JSON; timings go to stderr.
//! `make models` runs it as a smoke check of the converted model.
//!
//! cargo run --example transcribe -- FILE [--model PATH] [--threads N]
//!     [--language CODE] [--prompt TEXT] [--expect WORD,...]
//!
//! `--expect` fails (exit 1) unless every listed word is in the transcript.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use algo_speech::{DecodeLimits, TranscribeOptions, Transcriber, WhisperModel};

struct Args {
    file: PathBuf,
    model: PathBuf,
    threads: usize,
    options: TranscribeOptions,
    expect: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut model = std::env::var_os("WHISPER_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models/ggml-tiny.en.bin"));
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut options = TranscribeOptions::default();
    let mut expect = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => model = PathBuf::from(value()?),
            "--threads" => threads = value()?.parse().map_err(|_| "--threads takes a number")?,
            "--language" => options.language = Some(value()?),
            "--prompt" => options.initial_prompt = Some(value()?),
            "--expect" => {
                expect = value()?
                    .split(',')
                    .map(|w| w.trim().to_lowercase())
                    .collect()
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => file = Some(PathBuf::from(other)),
        }
    }
    let file = file.ok_or("usage: transcribe FILE [--model PATH] [--threads N] [--language CODE] [--prompt TEXT] [--expect WORD,...]")?;
    Ok(Args {
        file,
        model,
        threads,
        options,
        expect,
    })
}

fn run(args: Args) -> Result<(), String> {
    let started = Instant::now();
    let model = WhisperModel::load(&args.model).map_err(|e| e.to_string())?;
    let loaded = started.elapsed().as_secs_f64();
    let audio =
        algo_speech::decode_file(&args.file, DecodeLimits::default()).map_err(|e| e.to_string())?;
    let decoded = started.elapsed().as_secs_f64() - loaded;
    let transcriber = Transcriber::new(model, args.threads);
    let begin = Instant::now();
    let transcript = transcriber
        .transcribe(&audio, &args.options, &|| false)
        .map_err(|e| e.to_string())?;
    let inference = begin.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&transcript).map_err(|e| e.to_string())?;
    println!("{json}");
    let total = decoded + inference;
    eprintln!(
        "media {:.1} s; model load {loaded:.2} s; decode+resample {decoded:.2} s; \
         transcription {inference:.2} s; {} threads; real-time factor {:.3}",
        audio.duration,
        args.threads,
        total / audio.duration.max(f64::EPSILON)
    );
    if std::env::var_os("WHISPER_SYSTEM_INFO").is_some() {
        eprintln!("whisper.cpp: {}", whisper_rs::print_system_info());
    }
    let heard = transcript.text.to_lowercase();
    let missing: Vec<&String> = args
        .expect
        .iter()
        .filter(|w| !heard.contains(w.as_str()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the transcript lacks the expected words {missing:?}: {:?}",
            transcript.text
        ))
    }
}

fn main() -> ExitCode {
    // whisper.cpp's log lines arrive through `tracing`: RUST_LOG=whisper_rs=debug shows them.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = parse().and_then(run);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("transcribe: {message}");
            ExitCode::FAILURE
        }
    }
}
