use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use aws_sdk_kinesis::Client as Kinesis;
use aws_sdk_kinesis::primitives::{DateTime, DateTimeFormat};
use blueprint_core::AlgorithmClient;
use blueprint_core::client::ClientStartError;
use blueprint_core::lambda::{Diagnostic, deadline, diagnostic};
use blueprint_core::report::{Outcome, Report};
use lambda_runtime::LambdaEvent;

use crate::Settings;
use crate::features::{Candidate, classify};
use crate::output::{EnrichedRecord, Entry, OutputWriter};
use blueprint_core::predict::{ModelCheck, ModelMismatch, Predicted, check_model, predict_all};

/// Time kept back from the invocation deadline to return the batch response.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// Everything built once per cold start.
pub struct Predictor {
    pub settings: Settings,
    pub algorithms: AlgorithmClient,
    pub kinesis: Kinesis,
    /// The pause before the first retry of a failed `PutRecords` entry.
    pub put_backoff: Duration,
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
    /// against what the model takes.
    pub async fn connect(
        settings: Settings,
        aws: &blueprint_core::lambda::SdkConfig,
    ) -> Result<Self, StartError> {
        let algorithms = AlgorithmClient::connect(&settings.algorithmia, aws).await?;
        let predictor = Self {
            settings,
            algorithms,
            kinesis: Kinesis::new(aws),
            put_backoff: Duration::from_millis(100),
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
    event: LambdaEvent<KinesisEvent>,
    predictor: &Predictor,
) -> Result<KinesisEventResponse, Diagnostic> {
    let deadline = deadline(&event.context, DEADLINE_MARGIN);
    handle_batch(event.payload, deadline, predictor).await
}

/// Predicts the batch's records and writes one enriched record per prediction to the
/// output stream, in source order per shard and partition key. Bad input is logged
/// and dropped; the response names the records to retry by sequence number (Lambda
/// retries from the lowest, so the records after it come again too).
pub async fn handle_batch(
    event: KinesisEvent,
    deadline: Instant,
    predictor: &Predictor,
) -> Result<KinesisEventResponse, Diagnostic> {
    let settings = &predictor.settings;
    let records = &event.records;
    if let Some(record) = records
        .iter()
        .find(|r| r.kinesis.sequence_number.is_empty())
    {
        // Without a sequence number the record cannot be reported alone.
        let error = format!(
            "a record of {:?} has no sequenceNumber",
            record.event_source_arn
        );
        return Err(diagnostic(false, "MalformedRecord", &error));
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; records.len()];
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut positions: Vec<usize> = Vec::new();
    for (position, record) in records.iter().enumerate() {
        match classify(record, settings) {
            Ok(candidate) => {
                candidates.push(candidate);
                positions.push(position);
            }
            Err(outcome) => outcomes[position] = Some(outcome),
        }
    }
    let mut predictions = Vec::new();
    if !candidates.is_empty() {
        let (predicted, calls) = predict_all(
            &predictor.algorithms,
            &settings.predict(),
            &candidates,
            deadline,
        )
        .await;
        tracing::info!(records = candidates.len(), calls, "predicted");
        predictions = predicted;
    }

    // Per shard, nothing after a record that failed is written: Lambda redelivers
    // from that record, and writes them then, in order.
    let mut failed_in: HashMap<&str, &str> = HashMap::new();
    let mut ready: Vec<(usize, &Candidate, Predicted)> = Vec::new();
    for ((candidate, position), predicted) in candidates.iter().zip(&positions).zip(predictions) {
        let shard = candidate.source.shard_id.as_str();
        match (predicted, failed_in.get(shard)) {
            (Ok(predicted), None) => ready.push((*position, candidate, predicted)),
            (Ok(_), Some(first)) => {
                outcomes[*position] = Some(Outcome::Failed {
                    error: format!(
                        "held back to keep shard {shard}'s order: record {first} before it failed"
                    ),
                });
            }
            (Err(outcome), _) => {
                if matches!(outcome, Outcome::Failed { .. }) {
                    failed_in
                        .entry(shard)
                        .or_insert(candidate.source.sequence_number.as_str());
                }
                outcomes[*position] = Some(outcome);
            }
        }
    }

    if !ready.is_empty() {
        let predicted_at = DateTime::from(SystemTime::now())
            .fmt(DateTimeFormat::DateTime)
            .unwrap_or_default();
        let mut entries = Vec::with_capacity(ready.len());
        let mut entry_positions = Vec::with_capacity(ready.len());
        for (position, candidate, predicted) in &ready {
            let record = EnrichedRecord {
                source: &candidate.source,
                input_fingerprint: &candidate.fingerprint,
                prediction: &predicted.prediction,
                model: &predicted.model,
                predicted_at: &predicted_at,
            };
            match serde_json::to_vec(&record) {
                Ok(data) => {
                    entries.push(Entry {
                        partition_key: candidate.source.partition_key.clone(),
                        data,
                    });
                    entry_positions.push(*position);
                }
                Err(e) => {
                    outcomes[*position] = Some(Outcome::Rejected {
                        error: format!("the prediction cannot be written as JSON: {e}"),
                    });
                }
            }
        }
        let writer = OutputWriter {
            kinesis: &predictor.kinesis,
            stream: &settings.output_stream,
            max_attempts: settings.max_put_attempts,
            backoff: predictor.put_backoff,
        };
        let (written, calls) = writer.write_all(&entries, deadline).await;
        tracing::info!(
            records = entries.len(),
            calls,
            "written to the output stream"
        );
        for (position, written) in entry_positions.into_iter().zip(written) {
            outcomes[position] = Some(match written {
                Ok(output) => Outcome::Done {
                    outputs: vec![output],
                },
                Err(error) => Outcome::Failed { error },
            });
        }
    }

    let mut report = Report::default();
    for (record, outcome) in records.iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| Outcome::Failed {
            error: "the record was not processed".into(),
        });
        report.push(record.kinesis.sequence_number.clone(), outcome);
    }
    report.into_kinesis_response()
}
