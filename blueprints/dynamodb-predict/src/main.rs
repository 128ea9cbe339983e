use blueprint_core::lambda::{ColdStartError, start};
use blueprint_core::metrics;
use dynamodb_predict::{Predictor, Settings, handle};
use lambda_runtime::{run, service_fn};

/// A failed cold start prints the error's message (naming the setting and the fix).
#[tokio::main]
async fn main() -> Result<(), ColdStartError> {
    let (settings, aws, cold) = start(Settings::from_env).await?;
    let predictor = Predictor::connect(settings, &aws).await?;
    cold.ready("clients");
    run(service_fn(|event| {
        metrics::measure("dynamodb-predict", handle(event, &predictor))
    }))
    .await
    .map_err(ColdStartError::runtime)
}
