use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::Client as DynamoDb;
use blueprint_core::AlgorithmClient;
use blueprint_core::client::ClientStartError;
use blueprint_core::lambda::{Diagnostic, deadline, diagnostic};
use futures::{StreamExt, stream};
use lambda_runtime::LambdaEvent;

use crate::Settings;
use crate::batch::{Predicted, predict_all};
use crate::features::{Candidate, Eligibility, classify};
use crate::writer::{PredictionWriter, WriteOutcome};

const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// Everything built once per cold start.
pub struct Predictor {
    pub settings: Settings,
    pub algorithms: AlgorithmClient,
    pub dynamodb: DynamoDb,
}

impl Predictor {
    pub async fn connect(
        settings: Settings,
        aws: &blueprint_core::lambda::SdkConfig,
    ) -> Result<Self, ClientStartError> {
        let kms = aws_sdk_kms::Client::new(aws);
        let algorithms = AlgorithmClient::connect(&settings.algorithmia, &kms).await?;
        Ok(Self {
            settings,
            algorithms,
            dynamodb: DynamoDb::new(aws),
        })
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

pub async fn handle_batch(
    event: Event,
    deadline: Instant,
    predictor: &Predictor,
) -> Result<DynamoDbEventResponse, Diagnostic> {
    let settings = &predictor.settings;
    let mut candidates: Vec<Candidate> = Vec::new();
    for record in &event.records {
        match classify(record, settings) {
            Eligibility::Predict(candidate) => candidates.push(candidate),
            Eligibility::Skip(reason) => {
                tracing::info!(event_id = %record.event_id, %reason, "skipped")
            }
            Eligibility::Invalid(reason) if record.change.sequence_number.is_none() => {
                // Without a sequence number the record cannot be reported alone.
                return Err(diagnostic(false, "MalformedRecord", &reason));
            }
            Eligibility::Invalid(reason) => {
                tracing::error!(event_id = %record.event_id, %reason, "invalid record: skipped, it can never be predicted")
            }
        }
    }
    if candidates.is_empty() {
        return Ok(DynamoDbEventResponse::default());
    }
    let (predictions, calls) = predict_all(
        &predictor.algorithms,
        &settings.algorithm,
        &settings.model,
        &candidates,
        settings.max_batch_size,
        deadline,
    )
    .await;
    tracing::info!(records = candidates.len(), calls, "predicted");

    let writer = PredictionWriter {
        dynamodb: &predictor.dynamodb,
        attribute: &settings.prediction_attribute,
    };
    let writer = &writer;
    let outcomes: Vec<(usize, Result<WriteOutcome, String>)> =
        stream::iter(candidates.iter().zip(predictions).enumerate())
            .map(|(index, (candidate, predicted))| async move {
                let outcome = match predicted {
                    Predicted::Ok { prediction, model } => {
                        Ok(writer.write(candidate, &prediction, &model).await)
                    }
                    Predicted::Poison(error) => {
                        tracing::error!(sequence_number = %candidate.sequence_number, %error, "the algorithm rejects this record: skipped");
                        Ok(WriteOutcome::Superseded)
                    }
                    Predicted::Failed(error) => Err(error),
                };
                (index, outcome)
            })
            .buffer_unordered(settings.max_concurrent_writes)
            .collect()
            .await;

    let mut failed: Vec<usize> = Vec::new();
    for (index, outcome) in outcomes {
        let sequence_number = &candidates[index].sequence_number;
        match outcome {
            Ok(WriteOutcome::Written) => tracing::info!(%sequence_number, "prediction written"),
            Ok(WriteOutcome::Superseded) => {
                tracing::info!(%sequence_number, "not written: the item was deleted, changed, or holds this prediction already")
            }
            Ok(WriteOutcome::Failed(error)) | Err(error) => {
                tracing::warn!(%sequence_number, %error, "failed: reported for retry");
                failed.push(index);
            }
        }
    }
    failed.sort_unstable();
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|i| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(candidates[i].sequence_number.clone());
            failure
        })
        .collect();
    Ok(response)
}
