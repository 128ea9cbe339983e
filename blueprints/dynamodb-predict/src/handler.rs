use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodb::Client as DynamoDb;
use blueprint_core::AlgorithmClient;
use blueprint_core::client::ClientStartError;
use blueprint_core::lambda::{Diagnostic, deadline, diagnostic};
use blueprint_core::report::{Outcome, Report};
use futures::{StreamExt, stream};
use lambda_runtime::LambdaEvent;

use crate::Settings;
use crate::features::{Candidate, classify};
use crate::writer::PredictionWriter;
use blueprint_core::predict::{ModelCheck, ModelMismatch, Predicted, check_model, predict_all};

const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// Everything built once per cold start.
pub struct Predictor {
    pub settings: Settings,
    pub algorithms: AlgorithmClient,
    pub dynamodb: DynamoDb,
}

/// Why the function cannot start; each message names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Client(#[from] ClientStartError),
    #[error(transparent)]
    Model(#[from] ModelMismatch),
}

impl Predictor {
    /// The cold start: the key, the clients, then `MODEL` and `FEATURES` checked
    /// against what the model takes ([`check_model`]).
    pub async fn connect(
        settings: Settings,
        aws: &blueprint_core::lambda::SdkConfig,
    ) -> Result<Self, StartError> {
        let algorithms = AlgorithmClient::connect(&settings.algorithmia, aws).await?;
        let predictor = Self {
            settings,
            algorithms,
            dynamodb: DynamoDb::new(aws),
        };
        predictor.check_model().await?;
        Ok(predictor)
    }

    /// Checks `MODEL` and `FEATURES` against the model the endpoint serves.
    pub async fn check_model(&self) -> Result<ModelCheck, ModelMismatch> {
        check_model(&self.algorithms, &self.settings.predict()).await
    }
}

/// The Lambda handler: a partial batch response naming the records to retry.
pub async fn handle(
    event: LambdaEvent<Event>,
    predictor: &Predictor,
) -> Result<DynamoDbEventResponse, Diagnostic> {
    let deadline = deadline(&event.context, DEADLINE_MARGIN);
    handle_batch(event.payload, deadline, predictor).await
}

/// Predicts the batch's records and writes the predictions back; the response names
/// the records to retry by sequence number.
pub async fn handle_batch(
    event: Event,
    deadline: Instant,
    predictor: &Predictor,
) -> Result<DynamoDbEventResponse, Diagnostic> {
    let settings = &predictor.settings;
    let mut report = Report::default();
    let mut candidates: Vec<Candidate> = Vec::new();
    for record in &event.records {
        match classify(record, settings) {
            Ok(candidate) => candidates.push(candidate),
            Err(Outcome::Rejected { error }) if record.change.sequence_number.is_none() => {
                // Without a sequence number the record cannot be reported alone.
                return Err(diagnostic(false, "MalformedRecord", &error));
            }
            Err(outcome) => report.push(record_id(record), outcome),
        }
    }
    if candidates.is_empty() {
        return report.into_dynamodb_response();
    }
    let (predictions, calls) = predict_all(
        &predictor.algorithms,
        &settings.predict(),
        &candidates,
        deadline,
    )
    .await;
    tracing::info!(records = candidates.len(), calls, "predicted");

    let writer = PredictionWriter {
        dynamodb: &predictor.dynamodb,
        attribute: &settings.prediction_attribute,
    };
    let writer = &writer;
    let outcomes: Vec<(usize, Outcome)> =
        stream::iter(candidates.iter().zip(predictions).enumerate())
            .map(|(index, (candidate, predicted))| async move {
                let outcome = match predicted {
                    Ok(Predicted { prediction, model }) => {
                        writer.write(candidate, &prediction, &model).await
                    }
                    Err(outcome) => outcome,
                };
                (index, outcome)
            })
            .buffer_unordered(settings.max_concurrent_writes)
            .collect()
            .await;
    let mut outcomes = outcomes;
    outcomes.sort_unstable_by_key(|(index, _)| *index);
    for (index, outcome) in outcomes {
        report.push(candidates[index].sequence_number.clone(), outcome);
    }
    report.into_dynamodb_response()
}

/// How a record is named in the report: its sequence number, else its event id.
fn record_id(record: &aws_lambda_events::dynamodb::EventRecord) -> String {
    record
        .change
        .sequence_number
        .clone()
        .unwrap_or_else(|| record.event_id.clone())
}
