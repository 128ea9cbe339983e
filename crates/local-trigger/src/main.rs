//! `local-trigger`: delivers moto's S3 notifications, SQS messages, and DynamoDB and
//! Kinesis stream records to functions served by `cargo lambda watch`. See
//! docs/local-development.md.

use std::path::PathBuf;

use clap::Parser;
use local_trigger::invoke::Invoker;
use local_trigger::sources::Delivery;
use local_trigger::{AwsJson, StreamKind};

/// Deliver local AWS events to Lambda functions running under `cargo lambda watch`.
#[derive(Debug, Parser)]
#[command(name = "local-trigger", version)]
struct Args {
    /// The emulated AWS endpoint (moto).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint: String,
    /// The Runtime API emulator (`cargo lambda watch --invoke-address 127.0.0.1 --invoke-port PORT`).
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    runtime: String,
    /// QUEUE_URL=FUNCTION: S3 notifications delivered to this SQS queue go to FUNCTION.
    #[arg(long = "s3-queue", value_parser = pair)]
    s3_queues: Vec<(String, String)>,
    /// STREAM_ARN=FUNCTION: records of this DynamoDB stream go to FUNCTION.
    #[arg(long = "dynamodb-stream", value_parser = pair)]
    streams: Vec<(String, String)>,
    /// STREAM_ARN=FUNCTION: records of this Kinesis data stream go to FUNCTION.
    #[arg(long = "kinesis-stream", value_parser = pair)]
    kinesis_streams: Vec<(String, String)>,
    /// QUEUE_URL=FUNCTION: messages of this SQS queue go to FUNCTION as SQS events
    /// (up to 10 per invocation).
    #[arg(long = "sqs-queue", value_parser = pair)]
    sqs_queues: Vec<(String, String)>,
    /// Stream records (or SQS messages, at most 10) per invocation.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Invocations per event before it is dead-lettered.
    #[arg(long, default_value_t = 3)]
    max_attempts: u32,
    /// Where events whose retries ran out are appended, one JSON object a line.
    #[arg(long, default_value = "dead-letter.jsonl")]
    dead_letter: PathBuf,
}

fn pair(text: &str) -> Result<(String, String), String> {
    text.rsplit_once('=')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("{text:?} is not SOURCE=FUNCTION"))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.s3_queues.is_empty()
        && args.streams.is_empty()
        && args.kinesis_streams.is_empty()
        && args.sqs_queues.is_empty()
    {
        eprintln!(
            "local-trigger: nothing to deliver: give one or more of --s3-queue QUEUE_URL=FUNCTION, --sqs-queue QUEUE_URL=FUNCTION, --dynamodb-stream STREAM_ARN=FUNCTION, --kinesis-stream STREAM_ARN=FUNCTION"
        );
        std::process::exit(2);
    }
    let delivery = Delivery {
        invoker: Invoker::new(&args.runtime),
        api: AwsJson::new(&args.endpoint),
        endpoint: args.endpoint.clone(),
        max_attempts: args.max_attempts.max(1),
        dead_letter: args.dead_letter.clone(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (queue, function) in args.s3_queues {
        let delivery = delivery.clone();
        tracing::info!(%queue, %function, "delivering S3 notifications");
        tasks.spawn(async move { delivery.run_queue(&queue, &function).await });
    }
    for (stream, function) in args.streams {
        let delivery = delivery.clone();
        let batch_size = args.batch_size;
        tracing::info!(%stream, %function, "delivering DynamoDB stream records");
        tasks.spawn(async move {
            delivery
                .run_stream(StreamKind::DynamoDb, &stream, &function, batch_size)
                .await
        });
    }
    for (stream, function) in args.kinesis_streams {
        let delivery = delivery.clone();
        let batch_size = args.batch_size;
        tracing::info!(%stream, %function, "delivering Kinesis stream records");
        tasks.spawn(async move {
            delivery
                .run_stream(StreamKind::Kinesis, &stream, &function, batch_size)
                .await
        });
    }
    for (queue, function) in args.sqs_queues {
        let delivery = delivery.clone();
        let batch_size = args.batch_size;
        tracing::info!(%queue, %function, "delivering SQS messages");
        tasks.spawn(async move { delivery.run_sqs(&queue, &function, batch_size).await });
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
        _ = tasks.join_next() => tracing::error!("a delivery loop ended"),
    }
}
