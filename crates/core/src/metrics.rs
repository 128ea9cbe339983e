//! Metrics you can alarm on: one CloudWatch Embedded Metric Format (EMF) line per
//! invocation, written straight to stdout, where Lambda ships it to CloudWatch Logs and
//! CloudWatch turns it into metrics.
//!
//! The one place the blueprints emit metrics. Each `main` wraps its handler:
//!
//! ```ignore
//! run(service_fn(|event| metrics::measure("s3-thumbnail", handle(event, &thumbnailer))))
//! ```
//!
//! Inside [`measure`] (or [`Metrics::measure`]) every outcome pushed to a
//! [`Report`](crate::report::Report) and every call the
//! [`AlgorithmClient`](crate::AlgorithmClient) makes is tallied; when the invocation
//! ends, the tally is written as one JSON line. Outside it, nothing is recorded.
//!
//! - Namespace [`NAMESPACE`]; dimension sets `[FunctionName]` and `[Blueprint]`
//!   ([`DIMENSION_SETS`]): one series per function, and one per blueprint across
//!   every function that runs it.
//! - Metrics (names in [`names`]): `RecordsDone`, `RecordsSkipped`, `RecordsRejected`,
//!   `RecordsFailed` (Count; the outcome is in the name, so that one line carries all
//!   four and an alarm needs no `Outcome` filter), `AlgorithmCalls`,
//!   `AlgorithmCallErrors`, `AlgorithmCallRetries` (Count), `AlgorithmCallLatency`
//!   (Milliseconds, one value per call, retries and back-off included).
//!
//! The line is formatted by AWS Labs' `metrique-writer-format-emf` and written with one
//! `write_all` on locked stdout, never through `tracing`: with `AWS_LAMBDA_LOG_FORMAT=JSON`
//! the tracing subscriber would nest it inside its own JSON object, where CloudWatch
//! no longer finds the `_aws` block (docs/reliability.md, "Metrics and alarms").

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use metrique_writer::format::Format;
use metrique_writer::unit::{AsCount, NegativeScale};
use metrique_writer::{Entry, MetricFlags, Observation, Unit, Value, ValueWriter};
use metrique_writer_format_emf::Emf;

use crate::env::AWS_LAMBDA_FUNCTION_NAME;
use crate::report::{Outcome, Report};

/// The CloudWatch namespace of every blueprint's metrics.
pub const NAMESPACE: &str = "AlgorithmiaBlueprints";
/// Dimension: the Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`).
pub const FUNCTION_NAME: &str = "FunctionName";
/// Dimension: the blueprint (`s3-thumbnail`, `dynamodb-predict`, ...).
pub const BLUEPRINT: &str = "Blueprint";
/// The dimension sets each metric is published under.
pub const DIMENSION_SETS: [&[&str]; 2] = [&[FUNCTION_NAME], &[BLUEPRINT]];

/// The metric names, as they appear in CloudWatch.
pub mod names {
    pub const RECORDS_DONE: &str = "RecordsDone";
    pub const RECORDS_SKIPPED: &str = "RecordsSkipped";
    pub const RECORDS_REJECTED: &str = "RecordsRejected";
    pub const RECORDS_FAILED: &str = "RecordsFailed";
    pub const ALGORITHM_CALLS: &str = "AlgorithmCalls";
    pub const ALGORITHM_CALL_ERRORS: &str = "AlgorithmCallErrors";
    pub const ALGORITHM_CALL_RETRIES: &str = "AlgorithmCallRetries";
    pub const ALGORITHM_CALL_LATENCY: &str = "AlgorithmCallLatency";
}

/// What one invocation did: its records by outcome, and its algorithm calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub done: u64,
    pub skipped: u64,
    pub rejected: u64,
    pub failed: u64,
    /// One entry per algorithm call: from its first attempt to its result.
    pub call_latencies: Vec<Duration>,
    /// Calls that ended in an error (after their retries).
    pub call_errors: u64,
    /// Attempts beyond the first, over all calls.
    pub retries: u64,
}

impl Tally {
    /// The record counts of a report.
    pub fn from_report(report: &Report) -> Self {
        let mut tally = Tally::default();
        for record in &report.records {
            tally.count(&record.outcome);
        }
        tally
    }

    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Done { .. } => self.done += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::Rejected { .. } => self.rejected += 1,
            Outcome::Failed { .. } => self.failed += 1,
        }
    }

    /// One algorithm call that took `latency` over `attempts` attempts.
    pub fn call(&mut self, latency: Duration, attempts: u32, ok: bool) {
        self.call_latencies.push(latency);
        self.retries += u64::from(attempts.saturating_sub(1));
        if !ok {
            self.call_errors += 1;
        }
    }
}

tokio::task_local! {
    /// The tally of the invocation being measured on this task.
    static TALLY: RefCell<Tally>;
}

/// Adds to the tally of the invocation being measured; outside [`measure`], nothing.
/// The futures of one invocation (`buffered` streams included) are polled on its task,
/// so they all reach the same tally.
pub(crate) fn record(update: impl FnOnce(&mut Tally)) {
    let _ = TALLY.try_with(|tally| update(&mut tally.borrow_mut()));
}

/// The fields of one EMF line, in CloudWatch's names.
#[derive(Entry)]
#[entry(rename_all = "PascalCase")]
struct Line {
    #[entry(timestamp)]
    timestamp: SystemTime,
    function_name: String,
    blueprint: String,
    records_done: AsCount<u64>,
    records_skipped: AsCount<u64>,
    records_rejected: AsCount<u64>,
    records_failed: AsCount<u64>,
    algorithm_calls: AsCount<u64>,
    algorithm_call_errors: AsCount<u64>,
    algorithm_call_retries: AsCount<u64>,
    /// Absent when the invocation made no call.
    algorithm_call_latency: Option<Latencies>,
}

/// Call latencies as one metric of several observations, in milliseconds. (A
/// `Vec<Duration>` would be written as a list property, not a metric.)
struct Latencies(Vec<Duration>);

impl Value for Latencies {
    const UNIT: Unit = Unit::Second(NegativeScale::Milli);

    fn write(&self, writer: impl ValueWriter) {
        writer.metric(
            self.0
                .iter()
                .map(|latency| Observation::Floating(latency.as_secs_f64() * 1000.0)),
            Unit::Second(NegativeScale::Milli),
            [],
            MetricFlags::empty(),
        )
    }
}

#[derive(Debug, Clone)]
enum Output {
    Stdout,
    Memory(Arc<Mutex<Vec<u8>>>),
}

/// Where and under which names an invocation's metrics go.
#[derive(Debug, Clone)]
pub struct Metrics {
    blueprint: String,
    function_name: String,
    output: Output,
}

/// EMF lines written to memory by [`Metrics::in_memory`] (tests).
#[derive(Debug, Clone)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Every line written so far, as text.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every line written so far, parsed; a line that is not JSON comes back as a
    /// JSON string, so that a test comparing members fails on it.
    pub fn documents(&self) -> Vec<serde_json::Value> {
        self.lines()
            .into_iter()
            .map(|line| serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line)))
            .collect()
    }
}

impl Metrics {
    /// Metrics on stdout, named by `AWS_LAMBDA_FUNCTION_NAME` (the blueprint's name
    /// where that is unset, as in local runs).
    pub fn stdout(blueprint: &str) -> Self {
        let function_name = std::env::var(AWS_LAMBDA_FUNCTION_NAME)
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| blueprint.to_owned());
        Self {
            blueprint: blueprint.to_owned(),
            function_name,
            output: Output::Stdout,
        }
    }

    /// Metrics kept in memory, for tests.
    pub fn in_memory(blueprint: &str, function_name: &str) -> (Self, Captured) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let metrics = Self {
            blueprint: blueprint.to_owned(),
            function_name: function_name.to_owned(),
            output: Output::Memory(buffer.clone()),
        };
        (metrics, Captured(buffer))
    }

    /// Runs one invocation, tallying its records and calls, then writes the tally as
    /// one EMF line, whatever the invocation returns.
    pub async fn measure<F: Future>(&self, invocation: F) -> F::Output {
        let (output, tally) = TALLY
            .scope(RefCell::new(Tally::default()), async {
                let output = invocation.await;
                let tally = TALLY.with(|tally| tally.take());
                (output, tally)
            })
            .await;
        self.flush(&tally, SystemTime::now());
        output
    }

    /// Writes `tally` as one EMF line. A line that cannot be written is logged, never
    /// an invocation error.
    pub fn flush(&self, tally: &Tally, at: SystemTime) {
        let mut line = match self.line(tally, at) {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(%error, "metrics: could not format the EMF line");
                return;
            }
        };
        line.push('\n');
        let written = match &self.output {
            Output::Stdout => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(line.as_bytes())
                    .and_then(|()| stdout.flush())
            }
            Output::Memory(buffer) => {
                buffer
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(line.as_bytes());
                Ok(())
            }
        };
        if let Err(error) = written {
            tracing::warn!(%error, "metrics: could not write the EMF line");
        }
    }

    /// The EMF document for `tally`, on one line (no newline).
    pub fn line(&self, tally: &Tally, at: SystemTime) -> Result<String, String> {
        let dimension_sets = DIMENSION_SETS
            .iter()
            .map(|set| set.iter().map(|d| (*d).to_owned()).collect())
            .collect();
        let mut emf = Emf::all_validations(NAMESPACE.to_owned(), dimension_sets);
        let line = Line {
            timestamp: at,
            function_name: self.function_name.clone(),
            blueprint: self.blueprint.clone(),
            records_done: tally.done.into(),
            records_skipped: tally.skipped.into(),
            records_rejected: tally.rejected.into(),
            records_failed: tally.failed.into(),
            algorithm_calls: (tally.call_latencies.len() as u64).into(),
            algorithm_call_errors: tally.call_errors.into(),
            algorithm_call_retries: tally.retries.into(),
            algorithm_call_latency: (!tally.call_latencies.is_empty())
                .then(|| Latencies(tally.call_latencies.clone())),
        };
        let mut out = Vec::new();
        emf.format(&line, &mut out).map_err(|e| e.to_string())?;
        let text = String::from_utf8(out).map_err(|e| e.to_string())?;
        Ok(text.trim_end().to_owned())
    }
}

/// [`Metrics::measure`] on stdout for `blueprint`, built once per process: what each
/// blueprint's `main` wraps its handler in.
pub async fn measure<F: Future>(blueprint: &'static str, invocation: F) -> F::Output {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS
        .get_or_init(|| Metrics::stdout(blueprint))
        .measure(invocation)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn report() -> Report {
        let mut report = Report::default();
        report.push(
            "a",
            Outcome::Done {
                outputs: vec!["t/a".into()],
            },
        );
        report.push(
            "b",
            Outcome::Done {
                outputs: vec!["t/b".into()],
            },
        );
        report.push(
            "c",
            Outcome::Skipped {
                reason: "current".into(),
            },
        );
        report.push(
            "d",
            Outcome::Rejected {
                error: "not an image".into(),
            },
        );
        report.push(
            "e",
            Outcome::Failed {
                error: "throttled".into(),
            },
        );
        report
    }

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    #[test]
    fn a_line_is_an_emf_document_with_the_reports_counts() {
        let (metrics, _) = Metrics::in_memory("s3-thumbnail", "thumbs-prod");
        let mut tally = Tally::from_report(&report());
        tally.call(Duration::from_millis(120), 1, true);
        tally.call(Duration::from_millis(900), 3, false);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let doc = parse(&metrics.line(&tally, at).expect("line"));

        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], json!(1_700_000_000_123u64));
        let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
        assert_eq!(directives.len(), 1, "{doc}");
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["FunctionName"], ["Blueprint"]])
        );
        let units: std::collections::BTreeMap<String, String> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().expect("name").to_owned(),
                    m["Unit"].as_str().unwrap_or("None").to_owned(),
                )
            })
            .collect();
        let expected: std::collections::BTreeMap<String, String> = [
            (names::RECORDS_DONE, "Count"),
            (names::RECORDS_SKIPPED, "Count"),
            (names::RECORDS_REJECTED, "Count"),
            (names::RECORDS_FAILED, "Count"),
            (names::ALGORITHM_CALLS, "Count"),
            (names::ALGORITHM_CALL_ERRORS, "Count"),
            (names::ALGORITHM_CALL_RETRIES, "Count"),
            (names::ALGORITHM_CALL_LATENCY, "Milliseconds"),
        ]
        .into_iter()
        .map(|(n, u)| (n.to_owned(), u.to_owned()))
        .collect();
        assert_eq!(units, expected, "{doc}");

        // Dimension values and metric values are members of the root object.
        assert_eq!(doc["FunctionName"], "thumbs-prod");
        assert_eq!(doc["Blueprint"], "s3-thumbnail");
        assert_eq!(doc[names::RECORDS_DONE], json!(2));
        assert_eq!(doc[names::RECORDS_SKIPPED], json!(1));
        assert_eq!(doc[names::RECORDS_REJECTED], json!(1));
        assert_eq!(doc[names::RECORDS_FAILED], json!(1));
        assert_eq!(doc[names::ALGORITHM_CALLS], json!(2));
        assert_eq!(doc[names::ALGORITHM_CALL_ERRORS], json!(1));
        assert_eq!(doc[names::ALGORITHM_CALL_RETRIES], json!(2));
        assert_eq!(latencies(&doc), [120.0, 900.0], "{doc}");
    }

    /// The latency member in either EMF form: a number, or `{"Values", "Counts"}`.
    fn latencies(doc: &Value) -> Vec<f64> {
        let value = &doc[names::ALGORITHM_CALL_LATENCY];
        if let Some(n) = value.as_f64() {
            return vec![n];
        }
        let values = value["Values"].as_array().expect("Values");
        let counts = value["Counts"].as_array().expect("Counts");
        let mut out: Vec<f64> = values
            .iter()
            .zip(counts)
            .flat_map(|(v, c)| {
                std::iter::repeat_n(
                    v.as_f64().expect("value"),
                    c.as_u64().expect("count") as usize,
                )
            })
            .collect();
        out.sort_by(f64::total_cmp);
        out
    }

    #[test]
    fn an_invocation_without_calls_reports_zeros_and_no_latency() {
        let (metrics, _) = Metrics::in_memory("_template", "starter");
        let doc = parse(
            &metrics
                .line(&Tally::default(), SystemTime::now())
                .expect("line"),
        );
        for name in [
            names::RECORDS_DONE,
            names::RECORDS_FAILED,
            names::ALGORITHM_CALLS,
            names::ALGORITHM_CALL_RETRIES,
        ] {
            assert_eq!(doc[name], json!(0), "{name} in {doc}");
        }
        assert!(doc.get(names::ALGORITHM_CALL_LATENCY).is_none(), "{doc}");
    }

    #[tokio::test]
    async fn measure_tallies_the_invocations_reports_and_writes_one_line() {
        let (metrics, captured) = Metrics::in_memory("dynamodb-predict", "predict");
        let value = metrics
            .measure(async {
                let report = report();
                record(|t| t.call(Duration::from_millis(5), 2, true));
                report.records.len()
            })
            .await;
        assert_eq!(value, 5);
        let lines = captured.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        let doc = parse(&lines[0]);
        assert_eq!(doc[names::RECORDS_DONE], json!(2));
        assert_eq!(doc[names::RECORDS_FAILED], json!(1));
        assert_eq!(doc[names::ALGORITHM_CALLS], json!(1));
        assert_eq!(doc[names::ALGORITHM_CALL_RETRIES], json!(1));

        // A second invocation starts from zero; outside `measure` nothing is kept.
        let _ = report();
        metrics.measure(async {}).await;
        let lines = captured.lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(parse(&lines[1])[names::RECORDS_DONE], json!(0));
    }
}
