//! Predictions for many records in few calls: one call per chunk of
//! `MAX_BATCH_SIZE`; when the algorithm rejects a chunk's input (`InputError`), the
//! chunk is split in halves until the record at fault is alone. Any other failure
//! fails the whole chunk, to be retried: no bisection against a server in trouble.
//!
//! A rejection every record shares is the settings' fault, not the records': when a
//! chunk and both of its halves are rejected with the same message on the first
//! split, the records of the batch fail (for retry, then the failure destination)
//! with a message naming `MODEL`, `FEATURES` and `ALGORITHM`, instead of being
//! bisected one by one and dropped.

use std::time::Instant;

use crate::report::Outcome;
use crate::v1::contracts::predict::{Prediction, Reply, Request};
use crate::{AlgorithmClient, AlgorithmError, CallOptions, Input};

use super::{FEATURES, MODEL, PredictSettings, Record};

/// One record's prediction and the model (`name/version`) that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicted {
    pub prediction: Prediction,
    pub model: String,
}

type Slot = Option<Result<Predicted, Outcome>>;

/// A range of candidates to call with; `first` while it is a whole chunk, not yet split.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    start: usize,
    end: usize,
    first: bool,
}

/// Predicts every candidate; results in candidate order (a prediction, or the record's
/// outcome when there is none: rejected input, or failed to be retried), and the
/// number of calls.
pub async fn predict_all<C: Record>(
    client: &AlgorithmClient,
    settings: &PredictSettings<'_>,
    candidates: &[C],
    deadline: Instant,
) -> (Vec<Result<Predicted, Outcome>>, usize) {
    let max_batch = settings.max_batch_size.max(1);
    let mut results: Vec<Slot> = vec![None; candidates.len()];
    let mut pending: Vec<Chunk> = (0..candidates.len())
        .step_by(max_batch)
        .map(|start| Chunk {
            start,
            end: (start + max_batch).min(candidates.len()),
            first: true,
        })
        .rev()
        .collect();
    let mut calls = 0;
    // Once a rejection is known to be the settings' fault, the other chunks share it.
    let mut settings_fault: Option<Outcome> = None;
    while let Some(chunk) = pending.pop() {
        if let Some(outcome) = &settings_fault {
            fill(&mut results, chunk, Err(outcome.clone()));
            continue;
        }
        calls += 1;
        let result = call(
            client,
            settings,
            &candidates[chunk.start..chunk.end],
            deadline,
        )
        .await;
        let splittable = chunk.end - chunk.start > 1;
        match result {
            Err(error) if chunk.first && splittable && error.is_input_problem() => {
                // The first split tells a record at fault from a rejection all share.
                let (left, right) = halves(chunk);
                let left_result = call(
                    client,
                    settings,
                    &candidates[left.start..left.end],
                    deadline,
                )
                .await;
                let right_result = call(
                    client,
                    settings,
                    &candidates[right.start..right.end],
                    deadline,
                )
                .await;
                calls += 2;
                if same_rejection(&error, &left_result) && same_rejection(&error, &right_result) {
                    let outcome = shared_rejection(settings, chunk.end - chunk.start, &error);
                    fill(&mut results, chunk, Err(outcome.clone()));
                    settings_fault = Some(outcome);
                    continue;
                }
                tracing::warn!(records = chunk.end - chunk.start, %error, "the algorithm rejected a batch: splitting it");
                settle(&mut results, &mut pending, left, left_result);
                settle(&mut results, &mut pending, right, right_result);
            }
            result => settle(&mut results, &mut pending, chunk, result),
        }
    }
    let results = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Outcome::Failed {
                    error: "no prediction was returned".into(),
                })
            })
        })
        .collect();
    (results, calls)
}

fn halves(chunk: Chunk) -> (Chunk, Chunk) {
    let middle = chunk.start + (chunk.end - chunk.start) / 2;
    (
        Chunk {
            start: chunk.start,
            end: middle,
            first: false,
        },
        Chunk {
            start: middle,
            end: chunk.end,
            first: false,
        },
    )
}

/// Records a call's result: predictions, a rejected chunk split further (until the
/// record at fault is alone), or every record's outcome.
fn settle(
    results: &mut [Slot],
    pending: &mut Vec<Chunk>,
    chunk: Chunk,
    result: Result<Reply, AlgorithmError>,
) {
    match result {
        Ok(reply) => {
            for (slot, prediction) in results[chunk.start..chunk.end]
                .iter_mut()
                .zip(reply.predictions)
            {
                *slot = Some(Ok(Predicted {
                    prediction,
                    model: reply.model.clone(),
                }));
            }
        }
        Err(error) if error.is_input_problem() && chunk.end - chunk.start > 1 => {
            let (left, right) = halves(chunk);
            pending.push(right);
            pending.push(left);
        }
        Err(error) => fill(results, chunk, Err(Outcome::from(error))),
    }
}

fn fill(results: &mut [Slot], chunk: Chunk, outcome: Result<Predicted, Outcome>) {
    for slot in &mut results[chunk.start..chunk.end] {
        *slot = Some(outcome.clone());
    }
}

/// Whether a half was rejected exactly as the whole chunk was.
fn same_rejection(whole: &AlgorithmError, half: &Result<Reply, AlgorithmError>) -> bool {
    matches!(half, Err(error) if error.is_input_problem() && error.to_string() == whole.to_string())
}

fn shared_rejection(
    settings: &PredictSettings<'_>,
    records: usize,
    error: &AlgorithmError,
) -> Outcome {
    let message = format!(
        "the algorithm rejects all {records} records of the batch the same way, so the settings are at fault, not the records: check {MODEL} ({:?}), {FEATURES} ({}) and ALGORITHM ({}) against what the model takes: {error}",
        settings.model,
        settings.features.describe(settings.noun),
        settings.algorithm
    );
    tracing::error!(%message, "failing the batch for retry: a configuration error");
    Outcome::Failed { error: message }
}

async fn call<C: Record>(
    client: &AlgorithmClient,
    settings: &PredictSettings<'_>,
    chunk: &[C],
    deadline: Instant,
) -> Result<Reply, AlgorithmError> {
    let request = Request {
        model: settings.model.to_owned(),
        instances: chunk
            .iter()
            .map(|c| settings.features.instance(c.features()))
            .collect(),
    };
    let input = Input::json(&request)?;
    let reply: Reply = client
        .call(
            settings.algorithm,
            input,
            &CallOptions::with_deadline(deadline),
        )
        .await?
        .decode()?;
    if reply.predictions.len() != chunk.len() {
        return Err(AlgorithmError::Protocol {
            algorithm: settings.algorithm.to_string(),
            status: 200,
            detail: format!(
                "{} predictions for {} instances",
                reply.predictions.len(),
                chunk.len()
            ),
        });
    }
    Ok(reply)
}
