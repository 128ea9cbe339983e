//! What happened to each record of an event, and what the invocation returns.
//!
//! Records are independent. A permanent failure (bad input) is logged and the
//! invocation still succeeds, so Lambda does not retry it forever; a transient one
//! fails the invocation after every other record is done, so Lambda's retry and the
//! on-failure destination take over.

use serde::Serialize;

use crate::AlgorithmError;
use crate::lambda::{Diagnostic, diagnostic};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Work done; the outputs written.
    Done { outputs: Vec<String> },
    /// Nothing to do (outputs current, not our kind of object, our own output).
    Skipped { reason: String },
    /// Bad input: retrying cannot help.
    Rejected { error: String },
    /// May succeed later.
    Failed { error: String },
}

impl From<AlgorithmError> for Outcome {
    /// Input problems are rejected; everything else (throttling, 5xx, timeouts, and
    /// configuration an operator must fix) failed, to be retried.
    fn from(error: AlgorithmError) -> Self {
        if error.is_input_problem() {
            Outcome::Rejected {
                error: error.to_string(),
            }
        } else {
            Outcome::Failed {
                error: error.to_string(),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordReport {
    pub record: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub records: Vec<RecordReport>,
}

impl Report {
    /// Adds one record's outcome and logs it.
    pub fn push(&mut self, record: impl Into<String>, outcome: Outcome) {
        let record = record.into();
        match &outcome {
            Outcome::Done { outputs } => tracing::info!(%record, ?outputs, "done"),
            Outcome::Skipped { reason } => tracing::info!(%record, %reason, "skipped"),
            Outcome::Rejected { error } => {
                tracing::error!(%record, %error, "rejected: not retrying this input")
            }
            Outcome::Failed { error } => tracing::warn!(%record, %error, "failed: will be retried"),
        }
        self.records.push(RecordReport { record, outcome });
    }

    pub fn failed(&self) -> impl Iterator<Item = &RecordReport> {
        self.records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
    }

    /// The invocation's result: the report, or a retryable error naming every record
    /// that failed transiently.
    pub fn into_result(self) -> Result<Self, Diagnostic> {
        let failed: Vec<String> = self
            .failed()
            .map(|r| match &r.outcome {
                Outcome::Failed { error } => format!("{}: {error}", r.record),
                _ => r.record.clone(),
            })
            .collect();
        if failed.is_empty() {
            return Ok(self);
        }
        let message = format!(
            "{} of {} records failed and will be retried: {}",
            failed.len(),
            self.records.len(),
            failed.join("; ")
        );
        Err(diagnostic(true, "RecordsFailed", &message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_fail_the_invocation() {
        let mut report = Report::default();
        report.push(
            "a",
            Outcome::Done {
                outputs: vec!["t/a".into()],
            },
        );
        report.push(
            "b",
            Outcome::Rejected {
                error: "not an image".into(),
            },
        );
        assert!(report.clone().into_result().is_ok());
        report.push(
            "c",
            Outcome::Failed {
                error: "throttled".into(),
            },
        );
        let err = report.into_result().expect_err("c failed");
        assert_eq!(err.error_type, "Retryable.RecordsFailed");
        assert_eq!(
            err.error_message,
            "1 of 3 records failed and will be retried: c: throttled"
        );
    }
}
