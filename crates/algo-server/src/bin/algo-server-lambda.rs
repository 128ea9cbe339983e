//! `algo-server` as an AWS Lambda function behind a Function URL (see
//! `algo_server::lambda`). Settings come from the environment only.

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .with_ansi(false)
        .init();
    let (config, auth) = match algo_server::lambda::config_from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("algo-server-lambda: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("algo-server-lambda: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(algo_server::lambda::run(config, auth)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("algo-server-lambda: {error}");
            ExitCode::FAILURE
        }
    }
}
