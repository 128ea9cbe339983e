use blueprint_core::lambda::{ColdStartError, start};
use lambda_runtime::{LambdaEvent, run, service_fn};
use s3_thumbnail::{Settings, Thumbnailer, handle};

/// A failed cold start prints the error's message (naming the setting and the fix).
#[tokio::main]
async fn main() -> Result<(), ColdStartError> {
    let (settings, aws, cold) = start(Settings::from_env).await?;
    let thumbnailer = Thumbnailer::connect(settings, &aws).await?;
    cold.ready("clients");
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        blueprint_core::metrics::measure("s3-thumbnail", handle(event, &thumbnailer))
    }))
    .await
    .map_err(ColdStartError::runtime)
}
