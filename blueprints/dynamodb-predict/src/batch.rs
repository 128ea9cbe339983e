//! Predictions for many records in few calls: one call per chunk of
//! `MAX_BATCH_SIZE`; when the algorithm rejects a chunk's input, the chunk is split
//! in halves until the record at fault is alone.

use std::time::Instant;

use blueprint_core::v1::AlgoPath;
use blueprint_core::{AlgorithmClient, AlgorithmError, CallOptions, Input};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::features::Candidate;

/// One prediction as the Predict algorithm returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Prediction {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub value: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Reply {
    /// `name/version` the call resolved to.
    model: String,
    predictions: Vec<Prediction>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Predicted {
    Ok {
        prediction: Prediction,
        model: String,
    },
    /// The algorithm rejects this record's input: retrying cannot help.
    Poison(String),
    /// May succeed later (throttling, 5xx, timeout).
    Failed(String),
}

/// Predicts every candidate; results in candidate order, and the number of calls.
pub async fn predict_all(
    client: &AlgorithmClient,
    algorithm: &AlgoPath,
    model: &str,
    candidates: &[Candidate],
    max_batch: usize,
    deadline: Instant,
) -> (Vec<Predicted>, usize) {
    let mut results: Vec<Option<Predicted>> = vec![None; candidates.len()];
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
                    *slot = Some(Predicted::Ok {
                        prediction,
                        model: reply.model.clone(),
                    });
                }
            }
            Err(error) if is_input_error(&error) && end - start > 1 => {
                let middle = start + (end - start) / 2;
                tracing::warn!(records = end - start, %error, "the algorithm rejected a batch: splitting it");
                pending.push((middle, end));
                pending.push((start, middle));
            }
            Err(error) => {
                let outcome = if is_input_error(&error) {
                    Predicted::Poison(error.to_string())
                } else {
                    Predicted::Failed(error.to_string())
                };
                for slot in &mut results[start..end] {
                    *slot = Some(outcome.clone());
                }
            }
        }
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Predicted::Failed("no prediction was returned".into())))
        .collect();
    (results, calls)
}

/// Whether a failed batched call is worth splitting to find the record at fault. Unlike
/// [`AlgorithmError::is_input_problem`], a reply that does not decode is not one
/// record's doing.
fn is_input_error(error: &AlgorithmError) -> bool {
    matches!(
        error,
        AlgorithmError::Algorithm { .. } | AlgorithmError::InputTooLarge { .. }
    )
}

async fn call(
    client: &AlgorithmClient,
    algorithm: &AlgoPath,
    model: &str,
    chunk: &[Candidate],
    deadline: Instant,
) -> Result<Reply, AlgorithmError> {
    let instances: Vec<Value> = chunk
        .iter()
        .map(|c| {
            Value::Object(
                c.features
                    .iter()
                    .map(|(name, value)| (name.clone(), json!(value)))
                    .collect::<Map<String, Value>>(),
            )
        })
        .collect();
    let input = Input::Json(json!({"model": model, "instances": instances}));
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
