use blueprint_core::env::process_env;
use blueprint_core::lambda::{ColdStartError, aws_config, init_tracing};
use blueprint_core::metrics;
use kinesis_predict::{Predictor, Settings, handle};
use lambda_runtime::{run, service_fn};

/// A failed cold start prints the error's message (naming the setting and the fix).
#[tokio::main]
async fn main() -> Result<(), ColdStartError> {
    init_tracing();
    let settings = Settings::from_env(process_env)?;
    let aws = aws_config().await;
    let predictor = Predictor::connect(settings, &aws).await?;
    run(service_fn(|event| {
        metrics::measure("kinesis-predict", handle(event, &predictor))
    }))
    .await
    .map_err(ColdStartError::runtime)
}
