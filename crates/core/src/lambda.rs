//! Runtime glue shared by the blueprint binaries.

use std::fmt::Display;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use aws_config::SdkConfig;
pub use lambda_runtime::Diagnostic;

/// Tracing for a Lambda: honours `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG` and
/// `AWS_LAMBDA_LOG_FORMAT=JSON`.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The shared AWS configuration: region, credentials and `AWS_ENDPOINT_URL` from the
/// standard sources, so the same binary runs against AWS or an emulator; HTTPS trusting
/// [`TrustRoots::system`](crate::trust::TrustRoots::system).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::trust::TrustRoots::system().aws_http_client())
        .load()
        .await
}

/// The steps of a cold start, timed from the first line of `main`: [`ColdStart::ready`]
/// logs them as one line (`cold start ready in 9.8 ms: tracing 0.2 ms, settings 0.0 ms,
/// aws config 1.1 ms, clients 8.5 ms`), so a slow start shows which step to look at.
pub struct ColdStart {
    began: Instant,
    mark: Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl ColdStart {
    pub fn begin() -> Self {
        let now = Instant::now();
        Self {
            began: now,
            mark: now,
            steps: Vec::with_capacity(4),
        }
    }

    /// Ends the step `name`, begun when the last one ended.
    pub fn step(&mut self, name: &'static str) {
        let now = Instant::now();
        self.steps.push((name, now - self.mark));
        self.mark = now;
    }

    /// `ready in T ms: step t ms, ...`.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(name, took)| format!("{name} {:.1} ms", ms(*took)))
            .collect();
        format!(
            "ready in {:.1} ms: {}",
            ms(self.mark - self.began),
            steps.join(", ")
        )
    }

    /// Ends the step `last` and logs the summary; the function then asks the Runtime
    /// API for its first event.
    pub fn ready(mut self, last: &'static str) {
        self.step(last);
        tracing::info!("cold start {}", self.summary());
    }
}

/// The start every blueprint's `main` shares, each step timed: tracing, the settings
/// `read` takes from the process environment, the AWS configuration. The blueprint then
/// builds its clients and calls [`ColdStart::ready`].
pub async fn start<S, E: std::error::Error>(
    read: impl FnOnce(fn(&str) -> Option<String>) -> Result<S, E>,
) -> Result<(S, SdkConfig, ColdStart), ColdStartError> {
    let mut cold = ColdStart::begin();
    init_tracing();
    cold.step("tracing");
    let settings = read(crate::env::process_env)?;
    cold.step("settings");
    let aws = aws_config().await;
    cold.step("aws config");
    Ok((settings, aws, cold))
}

/// Why a blueprint could not start, as `main` returns it. Rust prints a `main` error
/// with `Debug`; this one's `Debug` is the error's message (its `Display`: the text that
/// names the setting and the fix), so the log says `Error: KMS denied decrypting
/// ALGORITHMIA_API_KEY_KMS: ...` rather than `Error: Key(AccessDenied { .. })`.
///
/// Any error converts with `?`; the runtime's boxed error with [`ColdStartError::runtime`].
pub struct ColdStartError {
    message: String,
}

impl ColdStartError {
    /// The error `lambda_runtime::run` ends with.
    pub fn runtime(error: lambda_runtime::Error) -> Self {
        Self {
            message: format!("the Lambda runtime stopped: {error}"),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::error::Error> From<E> for ColdStartError {
    fn from(error: E) -> Self {
        Self {
            message: error.to_string(),
        }
    }
}

impl std::fmt::Debug for ColdStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Display for ColdStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Deadlines below this are not epoch milliseconds (that would be before 2001) but a
/// time budget: `cargo lambda watch` sends a constant `600000` (ten minutes).
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// The invocation deadline as an `Instant`, with `margin` kept back for the work
/// that follows (writing results, reporting).
pub fn deadline(context: &lambda_runtime::Context, margin: Duration) -> Instant {
    let left = if context.deadline < EPOCH_MS_FLOOR {
        Duration::from_millis(context.deadline)
    } else {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Duration::from_millis(context.deadline.saturating_sub(now_ms))
    };
    Instant::now() + left.saturating_sub(margin)
}

/// A `Diagnostic` whose `error_type` says whether a retry can help:
/// `Retryable.<Kind>` or `NonRetryable.<Kind>`.
pub fn diagnostic(retryable: bool, kind: &str, error: &dyn Display) -> Diagnostic {
    let class = if retryable {
        "Retryable"
    } else {
        "NonRetryable"
    };
    Diagnostic {
        error_type: format!("{class}.{kind}"),
        error_message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cold_start_error_debugs_as_its_message() {
        let error = ColdStartError::from(crate::api_key::KeyError::AccessDenied {
            detail: "not allowed".into(),
        });
        let printed = format!("{error:?}");
        assert!(
            printed.starts_with("KMS denied decrypting ALGORITHMIA_API_KEY_KMS: not allowed."),
            "{printed}"
        );
        assert!(!printed.contains("AccessDenied {"), "{printed}");
    }

    #[test]
    fn a_cold_start_names_each_step_and_the_total() {
        let mut cold = ColdStart::begin();
        cold.step("settings");
        std::thread::sleep(Duration::from_millis(5));
        cold.step("clients");
        let summary = cold.summary();
        let (total, steps) = summary
            .strip_prefix("ready in ")
            .and_then(|rest| rest.split_once(" ms: "))
            .expect("ready in T ms: ...");
        assert!(total.parse::<f64>().expect("total") >= 5.0, "{summary}");
        let names: Vec<&str> = steps
            .split(", ")
            .filter_map(|step| step.rsplit_once(' ')?.0.rsplit_once(' '))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["settings", "clients"], "{summary}");
    }

    #[test]
    fn deadline_keeps_the_margin() {
        let mut context = lambda_runtime::Context::default();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        context.deadline = now_ms + 10_000;
        let d = deadline(&context, Duration::from_secs(2));
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(7) && left <= Duration::from_secs(8),
            "{left:?}"
        );
    }

    #[test]
    fn an_emulators_relative_deadline_is_a_budget() {
        let mut context = lambda_runtime::Context::default();
        context.deadline = 600_000;
        let d = deadline(&context, Duration::from_secs(2));
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(597) && left <= Duration::from_secs(598),
            "{left:?}"
        );
    }
}
