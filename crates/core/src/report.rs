//! What happened to each record of an event, and what the invocation returns.
//!
//! One vocabulary for every blueprint: each record ends [`Outcome::Done`],
//! [`Outcome::Skipped`], [`Outcome::Rejected`] (bad input: logged, never retried) or
//! [`Outcome::Failed`] (retried by the event source, then its failure destination).
//! [`Report`] collects them and turns them into what the invocation returns: an error
//! naming the failed records (S3, async invocations), or a partial batch response
//! (SQS, DynamoDB and Kinesis streams) naming them by message id or sequence number.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_lambda_events::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisBatchItemFailure, KinesisEventResponse,
};
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

impl Outcome {
    /// The outcome with its error prefixed by the part of the record it is about.
    pub fn about(self, part: impl std::fmt::Display) -> Outcome {
        match self {
            Outcome::Rejected { error } => Outcome::Rejected {
                error: format!("{part}: {error}"),
            },
            Outcome::Failed { error } => Outcome::Failed {
                error: format!("{part}: {error}"),
            },
            other => other,
        }
    }

    /// One record's outcome from the outcomes of its parts (one per thumbnail size,
    /// say): failed if any part failed (a retry redoes only what is missing), else
    /// rejected if any part was, else done with every output, else skipped.
    pub fn combine(parts: impl IntoIterator<Item = Outcome>) -> Outcome {
        let (mut outputs, mut skipped, mut rejected, mut failed) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for part in parts {
            match part {
                Outcome::Done { outputs: written } => outputs.extend(written),
                Outcome::Skipped { reason } => skipped.push(reason),
                Outcome::Rejected { error } => rejected.push(error),
                Outcome::Failed { error } => failed.push(error),
            }
        }
        if !failed.is_empty() {
            Outcome::Failed {
                error: failed.join("; "),
            }
        } else if !rejected.is_empty() {
            Outcome::Rejected {
                error: rejected.join("; "),
            }
        } else if !outputs.is_empty() {
            Outcome::Done { outputs }
        } else {
            Outcome::Skipped {
                reason: skipped.join("; "),
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
    /// Adds one record's outcome, logs it, and counts it in the invocation's metrics
    /// ([`crate::metrics`]).
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
        crate::metrics::record(|tally| tally.count(&outcome));
        self.records.push(RecordReport { record, outcome });
    }

    pub fn failed(&self) -> impl Iterator<Item = &RecordReport> {
        self.records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
    }

    /// The identifiers of the failed records for a partial batch response. An empty
    /// identifier would make Lambda fail the whole batch without saying why: say it.
    fn failed_identifiers(&self) -> Result<Vec<String>, Diagnostic> {
        self.failed()
            .map(|r| {
                if r.record.is_empty() {
                    Err(diagnostic(
                        true,
                        "RecordFailed",
                        &"a record without an identifier failed: the whole batch is retried",
                    ))
                } else {
                    Ok(r.record.clone())
                }
            })
            .collect()
    }

    /// The SQS partial batch response: failed records by message id.
    pub fn into_sqs_response(self) -> Result<SqsBatchResponse, Diagnostic> {
        let mut response = SqsBatchResponse::default();
        for id in self.failed_identifiers()? {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
        Ok(response)
    }

    /// The DynamoDB stream partial batch response: failed records by sequence number.
    /// Lambda resumes from the lowest one, so later records come again too.
    pub fn into_dynamodb_response(self) -> Result<DynamoDbEventResponse, Diagnostic> {
        let mut response = DynamoDbEventResponse::default();
        for id in self.failed_identifiers()? {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(id);
            response.batch_item_failures.push(failure);
        }
        Ok(response)
    }

    /// The Kinesis stream partial batch response: failed records by sequence number.
    pub fn into_kinesis_response(self) -> Result<KinesisEventResponse, Diagnostic> {
        let mut response = KinesisEventResponse::default();
        for id in self.failed_identifiers()? {
            let mut failure = KinesisBatchItemFailure::default();
            failure.item_identifier = Some(id);
            response.batch_item_failures.push(failure);
        }
        Ok(response)
    }

    /// The invocation's result for sources without partial batch responses (S3): the
    /// report, or a retryable error naming every record that failed transiently.
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

    fn failed(error: &str) -> Outcome {
        Outcome::Failed {
            error: error.into(),
        }
    }

    #[test]
    fn parts_combine_worst_first() {
        let done = |key: &str| Outcome::Done {
            outputs: vec![key.into()],
        };
        let rejected = Outcome::Rejected {
            error: "bad".into(),
        };
        let skipped = Outcome::Skipped {
            reason: "current".into(),
        };
        assert_eq!(
            Outcome::combine([done("a"), skipped.clone(), done("b")]),
            Outcome::Done {
                outputs: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(
            Outcome::combine([done("a"), rejected.clone()]),
            rejected.clone()
        );
        assert_eq!(
            Outcome::combine([rejected, failed("503"), done("a")]),
            failed("503")
        );
        assert_eq!(Outcome::combine([skipped.clone()]), skipped);
    }

    #[test]
    fn batch_responses_name_only_the_failed_records() {
        let mut report = Report::default();
        report.push(
            "1",
            Outcome::Done {
                outputs: Vec::new(),
            },
        );
        report.push("2", failed("throttled"));
        report.push(
            "3",
            Outcome::Rejected {
                error: "bad".into(),
            },
        );
        report.push("4", failed("5xx"));
        let sqs = report.clone().into_sqs_response().expect("response");
        let ids: Vec<&str> = sqs
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["2", "4"]);
        let stream = report.clone().into_dynamodb_response().expect("response");
        let ids: Vec<Option<&str>> = stream
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_deref())
            .collect();
        assert_eq!(ids, [Some("2"), Some("4")]);
        assert_eq!(
            report
                .into_kinesis_response()
                .expect("response")
                .batch_item_failures
                .len(),
            2
        );

        let mut nameless = Report::default();
        nameless.push("", failed("timeout"));
        let err = nameless.into_sqs_response().expect_err("no identifier");
        assert_eq!(err.error_type, "Retryable.RecordFailed");
    }

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
