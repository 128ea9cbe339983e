//! Predictions for many records in few calls: one call per chunk of
//! `MAX_BATCH_SIZE`; when the algorithm rejects a chunk's input (`InputError`), the
//! chunk is split in halves until the record at fault is alone. Any other failure
//! fails the whole chunk, to be retried: no bisection against a server in trouble.

use std::time::Instant;

use blueprint_core::report::Outcome;
use blueprint_core::v1::AlgoPath;
use blueprint_core::v1::contracts::predict::{Instance, Prediction, Reply, Request};
use blueprint_core::{AlgorithmClient, AlgorithmError, CallOptions, Input};
use serde_json::{Map, Value, json};

use crate::features::Candidate;

/// One record's prediction and the model (`name/version`) that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicted {
    pub prediction: Prediction,
    pub model: String,
}

/// Predicts every candidate; results in candidate order (a prediction, or the record's
/// outcome when there is none: rejected input, or failed to be retried), and the
/// number of calls.
pub async fn predict_all(
    client: &AlgorithmClient,
    algorithm: &AlgoPath,
    model: &str,
    candidates: &[Candidate],
    max_batch: usize,
    deadline: Instant,
) -> (Vec<Result<Predicted, Outcome>>, usize) {
    let mut results: Vec<Option<Result<Predicted, Outcome>>> = vec![None; candidates.len()];
    let mut pending: Vec<(usize, usize)> = (0..candidates.len())
        .step_by(max_batch.max(1))
        .map(|start| (start, (start + max_batch).min(candidates.len())))
        .rev()
        .collect();
    let mut calls = 0;
    while let Some((start, end)) = pending.pop() {
        calls += 1;
        let chunk = &candidates[start..end];
        match call(client, algorithm, model, chunk, deadline).await {
            Ok(reply) => {
                for (slot, prediction) in results[start..end].iter_mut().zip(reply.predictions) {
                    *slot = Some(Ok(Predicted {
                        prediction,
                        model: reply.model.clone(),
                    }));
                }
            }
            Err(error) if error.is_input_problem() && end - start > 1 => {
                let middle = start + (end - start) / 2;
                tracing::warn!(records = end - start, %error, "the algorithm rejected a batch: splitting it");
                pending.push((middle, end));
                pending.push((start, middle));
            }
            Err(error) => {
                let outcome = Outcome::from(error);
                for slot in &mut results[start..end] {
                    *slot = Some(Err(outcome.clone()));
                }
            }
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

async fn call(
    client: &AlgorithmClient,
    algorithm: &AlgoPath,
    model: &str,
    chunk: &[Candidate],
    deadline: Instant,
) -> Result<Reply, AlgorithmError> {
    let request = Request {
        model: model.to_owned(),
        instances: chunk
            .iter()
            .map(|c| {
                Instance::Named(
                    c.features
                        .iter()
                        .map(|(name, value)| (name.clone(), json!(value)))
                        .collect::<Map<String, Value>>(),
                )
            })
            .collect(),
    };
    let input = Input::json(&request)?;
    let reply: Reply = client
        .call(algorithm, input, &CallOptions::with_deadline(deadline))
        .await?
        .decode()?;
    if reply.predictions.len() != chunk.len() {
        return Err(AlgorithmError::Protocol {
            algorithm: algorithm.to_string(),
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
