use blueprint_core::env::process_env;
use blueprint_core::lambda::{ColdStart, ColdStartError, aws_config, init_tracing};
use lambda_runtime::{LambdaEvent, run, service_fn};
use s3_transcribe::{Settings, Transcriber, handle};

/// A failed cold start prints the error's message (naming the setting and the fix).
#[tokio::main]
async fn main() -> Result<(), ColdStartError> {
    let mut cold = ColdStart::begin();
    init_tracing();
    cold.step("tracing");
    let settings = Settings::from_env(process_env)?;
    cold.step("settings");
    let aws = aws_config().await;
    cold.step("aws config");
    let transcriber = Transcriber::connect(settings, &aws).await?;
    cold.step("clients");
    cold.ready();
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        blueprint_core::metrics::measure("s3-transcribe", handle(event, &transcriber))
    }))
    .await
    .map_err(ColdStartError::runtime)
}
