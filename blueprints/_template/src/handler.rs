use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use blueprint_core::client::ClientStartError;
use blueprint_core::lambda::{Diagnostic, deadline};
use blueprint_core::report::{Outcome, Report};
use blueprint_core::{AlgoOutput, AlgorithmClient, CallOptions, Input};
use futures::{StreamExt, stream};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::Settings;

/// Time kept back from the invocation deadline to return the batch response.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// Everything built once per cold start.
pub struct Blueprint {
    pub settings: Settings,
    pub algorithms: AlgorithmClient,
}

impl Blueprint {
    pub async fn connect(
        settings: Settings,
        aws: &blueprint_core::lambda::SdkConfig,
    ) -> Result<Self, ClientStartError> {
        let algorithms = AlgorithmClient::connect(&settings.algorithmia, aws).await?;
        Ok(Self {
            settings,
            algorithms,
        })
    }
}

/// The Lambda handler: a partial batch response naming the messages to retry.
pub async fn handle(
    event: LambdaEvent<SqsEvent>,
    blueprint: &Blueprint,
) -> Result<SqsBatchResponse, Diagnostic> {
    let deadline = deadline(&event.context, DEADLINE_MARGIN);
    handle_batch(event.payload, deadline, blueprint).await
}

/// Calls the algorithm once per message. Bad input is logged and dropped (a retry
/// cannot fix it); transient failures are reported by message id, so SQS redelivers
/// only those.
pub async fn handle_batch(
    event: SqsEvent,
    deadline: Instant,
    blueprint: &Blueprint,
) -> Result<SqsBatchResponse, Diagnostic> {
    let outcomes: Vec<(String, Outcome)> = stream::iter(&event.records)
        .map(|message| async move {
            let id = message.message_id.clone().unwrap_or_default();
            (id, process(message, deadline, blueprint).await)
        })
        .buffered(blueprint.settings.max_concurrent_messages)
        .collect()
        .await;
    let mut report = Report::default();
    for (id, outcome) in outcomes {
        report.push(id, outcome);
    }
    report.into_sqs_response()
}

async fn process(message: &SqsMessage, deadline: Instant, blueprint: &Blueprint) -> Outcome {
    let body = message.body.as_deref().unwrap_or_default();
    let input = match serde_json::from_str::<Value>(body) {
        Ok(input) => input,
        Err(e) => {
            return Outcome::Rejected {
                error: format!("the message body is not JSON: {e}"),
            };
        }
    };
    let settings = &blueprint.settings;
    let reply = blueprint
        .algorithms
        .call(
            &settings.algorithm,
            Input::Json(input),
            &CallOptions::with_deadline(deadline),
        )
        .await;
    match reply {
        // Replace this with the blueprint's write: an S3 object, a table item, a message.
        Ok(reply) => {
            let output = match reply.output {
                AlgoOutput::Json(value) => value.to_string(),
                other => format!("{other:?}"),
            };
            tracing::info!(algorithm = %settings.algorithm, %output, "algorithm result");
            Outcome::Done { outputs: vec![] }
        }
        Err(e) => Outcome::from(e),
    }
}
