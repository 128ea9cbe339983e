//! The cold start's check of `MODEL` and `FEATURES` against what the model takes, so a
//! configuration mistake stops the function loudly instead of dropping records.
//!
//! `algo-server` describes a model (`{"model", "describe": true}` answers its features
//! in order). An endpoint that cannot refuses that request as `InputError`; then an
//! empty prediction call (`{"model", "instances": []}`) still tells whether `MODEL` is
//! served, and the feature count is left to the first calls (a rejection shared by
//! every record of a batch fails the batch: [`super::predict_all`]).

use std::time::{Duration, Instant};

use crate::v1::contracts::predict::{DescribeRequest, ModelDescription, Reply, Request};
use crate::{AlgorithmClient, AlgorithmError, CallOptions, Input};

use super::{FEATURES, FeatureMap, MODEL, PredictSettings};

/// Time the check may take: Lambda allows an init phase about 10 s.
const CHECK_TIME: Duration = Duration::from_secs(5);

/// What the cold start learned about `MODEL`.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelCheck {
    /// The endpoint described the model, and `FEATURES` maps onto its features.
    Verified { model: String, features: usize },
    /// The endpoint could not say (it does not describe models, or did not answer in
    /// time); the first calls check instead.
    Unverified { reason: String },
}

/// `MODEL`, `FEATURES` or the algorithm settings cannot work: the cold start stops.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ModelMismatch(pub String);

/// Checks the settings against the model the endpoint serves.
pub async fn check_model(
    client: &AlgorithmClient,
    settings: &PredictSettings<'_>,
) -> Result<ModelCheck, ModelMismatch> {
    let options = CallOptions {
        timeout: Some(CHECK_TIME),
        ..CallOptions::with_deadline(Instant::now() + CHECK_TIME)
    };
    let described = async {
        let input = Input::json(&DescribeRequest::new(settings.model.to_owned()))?;
        client
            .call(settings.algorithm, input, &options)
            .await?
            .decode::<ModelDescription>()
    };
    match described.await {
        Ok(description) => compare(settings, &description).map(|()| ModelCheck::Verified {
            model: description.model,
            features: description.features.len(),
        }),
        Err(refused) if refused.is_input_problem() => {
            // Unknown model, or an endpoint that does not describe models: ask for nothing.
            let empty = async {
                let input = Input::json(&Request {
                    model: settings.model.to_owned(),
                    instances: Vec::new(),
                })?;
                client
                    .call(settings.algorithm, input, &options)
                    .await?
                    .decode::<Reply>()
            };
            match empty.await {
                Ok(_) => Ok(unverified(format!(
                    "the endpoint does not describe models ({refused})"
                ))),
                Err(error) if error.is_input_problem() => Err(ModelMismatch(format!(
                    "{MODEL} is {:?}, which {} at {} refuses: {error}. Set {MODEL} to a model the endpoint serves",
                    settings.model,
                    settings.algorithm,
                    client.api()
                ))),
                Err(error) => Ok(unverified(error.to_string())),
            }
        }
        // The key or ALGORITHM is wrong: their messages name the setting.
        Err(error @ (AlgorithmError::Unauthorized { .. } | AlgorithmError::NotFound { .. })) => {
            Err(ModelMismatch(error.to_string()))
        }
        Err(error) => Ok(unverified(error.to_string())),
    }
}

fn unverified(reason: String) -> ModelCheck {
    tracing::warn!(%reason, "MODEL and FEATURES not checked at cold start; the first calls will tell");
    ModelCheck::Unverified { reason }
}

/// Whether `FEATURES` feeds every input of the model, once.
fn compare(
    settings: &PredictSettings<'_>,
    description: &ModelDescription,
) -> Result<(), ModelMismatch> {
    let wanted: Vec<&str> = description
        .features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    let takes = || {
        format!(
            "{MODEL} {:?} ({}) takes {} features, in this order: {}",
            settings.model,
            description.model,
            wanted.len(),
            wanted.join(",")
        )
    };
    let one = settings.noun.one;
    match settings.features {
        FeatureMap::Positional(names) => {
            if names.len() != wanted.len() {
                return Err(ModelMismatch(format!(
                    "{FEATURES} lists {} {one}s, but {}. List one {one} per feature in that order, or map them by name ({one}=feature)",
                    names.len(),
                    takes()
                )));
            }
            let pairs: Vec<String> = names
                .iter()
                .zip(&wanted)
                .map(|(a, f)| format!("{a}->{f}"))
                .collect();
            tracing::info!(model = %description.model, features = %pairs.join(","), "FEATURES checked against the model");
        }
        FeatureMap::Named(pairs) => {
            let unknown: Vec<&str> = pairs
                .iter()
                .map(|(_, f)| f.as_str())
                .filter(|f| !wanted.contains(f))
                .collect();
            if !unknown.is_empty() {
                return Err(ModelMismatch(format!(
                    "{FEATURES} names features the model does not take ({}): {}",
                    unknown.join(","),
                    takes()
                )));
            }
            let fed: Vec<&str> = pairs.iter().map(|(_, f)| f.as_str()).collect();
            let missing: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|f| !fed.contains(f))
                .collect();
            if !missing.is_empty() {
                return Err(ModelMismatch(format!(
                    "{FEATURES} feeds no {one} to {}: {}",
                    missing.join(","),
                    takes()
                )));
            }
            tracing::info!(model = %description.model, "FEATURES checked against the model");
        }
    }
    Ok(())
}
