use blueprint_core::env::process_env;
use blueprint_core::lambda::{aws_config, init_tracing};
use dynamodb_predict::{Predictor, Settings, handle};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let settings = Settings::from_env(process_env)?;
    let aws = aws_config().await;
    let predictor = Predictor::connect(settings, &aws).await?;
    run(service_fn(|event| handle(event, &predictor))).await
}
