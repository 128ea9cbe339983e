use blueprint_core::env::process_env;
use blueprint_core::lambda::{ColdStart, ColdStartError, aws_config, init_tracing};
use blueprint_core::metrics;
use dynamodb_predict::{Predictor, Settings, handle};
use lambda_runtime::{run, service_fn};

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
    let predictor = Predictor::connect(settings, &aws).await?;
    cold.step("clients");
    cold.ready();
    run(service_fn(|event| {
        metrics::measure("dynamodb-predict", handle(event, &predictor))
    }))
    .await
    .map_err(ColdStartError::runtime)
}
