//! What a Kinesis record holds for the model: its JSON (raw, or base64 text of it),
//! the features `FEATURES` names, their fingerprint, and where the record came from.

use aws_lambda_events::kinesis::KinesisEventRecord;
use base64::Engine;
use serde_json::{Map, Value};

use blueprint_core::report::Outcome;

use crate::Settings;

/// A record ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub source: Source,
    /// Field name -> value, in `FEATURES` order.
    pub features: Vec<(String, f64)>,
    pub fingerprint: String,
}

impl blueprint_core::predict::Record for Candidate {
    fn features(&self) -> &[(String, f64)] {
        &self.features
    }
}

/// Where a record came from: every output names it, so consumers can drop repeats.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    pub stream_arn: String,
    pub shard_id: String,
    /// The identifier of a batch item failure, and of the output's source.
    pub sequence_number: String,
    pub partition_key: String,
}

impl Source {
    /// The record's identity; the shard comes from `eventID` (`shardId-…:SEQUENCE`).
    pub fn of(record: &KinesisEventRecord) -> Self {
        let shard_id = record
            .event_id
            .as_deref()
            .and_then(|id| id.split_once(':'))
            .map(|(shard, _)| shard.to_owned())
            .unwrap_or_default();
        Self {
            stream_arn: record.event_source_arn.clone().unwrap_or_default(),
            shard_id,
            sequence_number: record.kinesis.sequence_number.clone(),
            partition_key: record.kinesis.partition_key.clone(),
        }
    }
}

/// The record as a [`Candidate`], or its outcome already: skipped (an output of this
/// blueprint) or rejected (not JSON, a missing or non-numeric feature: it can never be
/// predicted as it is).
pub fn classify(record: &KinesisEventRecord, settings: &Settings) -> Result<Candidate, Outcome> {
    let source = Source::of(record);
    let object = decode(&record.kinesis.data).map_err(|error| Outcome::Rejected { error })?;
    if object.contains_key("input_fingerprint") && object.contains_key("source") {
        return Err(Outcome::Skipped {
            reason: "an output of this blueprint (is OUTPUT_STREAM also the source stream?)".into(),
        });
    }
    let mut features = Vec::with_capacity(settings.prediction.features.len());
    for name in settings.prediction.features.names() {
        let number = match object.get(name) {
            None => return Err(invalid(format!("feature field {name:?} is missing"))),
            Some(Value::Number(number)) => number.as_f64(),
            Some(other) => {
                return Err(invalid(format!(
                    "feature field {name:?} is {}, expected a number",
                    kind(other)
                )));
            }
        };
        match number {
            Some(number) if number.is_finite() => features.push((name.to_owned(), number)),
            _ => {
                return Err(invalid(format!(
                    "feature field {name:?} is not a finite number"
                )));
            }
        }
    }
    Ok(Candidate {
        fingerprint: fingerprint(&settings.prediction.model, &features),
        source,
        features,
    })
}

/// A record's data as a JSON object: the bytes are JSON, or base64 text of JSON (some
/// producers encode twice).
pub fn decode(data: &[u8]) -> Result<Map<String, Value>, String> {
    let text = data.trim_ascii();
    let value = match serde_json::from_slice::<Value>(text) {
        Ok(value) => value,
        Err(json_error) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| {
                    format!("the record's data is neither JSON nor base64 JSON ({json_error})")
                })?;
            serde_json::from_slice::<Value>(decoded.trim_ascii()).map_err(|e| {
                format!("the record's data is base64, but what it encodes is not JSON ({e})")
            })?
        }
    };
    match value {
        Value::Object(object) => Ok(object),
        other => Err(format!(
            "the record's data is {}, expected a JSON object of features",
            kind(&other)
        )),
    }
}

fn invalid(error: String) -> Outcome {
    Outcome::Rejected { error }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A stable hash of the model and the feature values (FNV-1a, 64 bits, hex), the same
/// as dynamodb-predict's.
pub fn fingerprint(model: &str, features: &[(String, f64)]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    feed(model.as_bytes());
    for (name, value) in features {
        feed(&[0]);
        feed(name.as_bytes());
        feed(&[0]);
        feed(&value.to_bits().to_le_bytes());
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_is_json_or_base64_json() {
        let want = json!({"a": 1.5});
        assert_eq!(
            Value::Object(decode(b" {\"a\": 1.5}\n").expect("json")),
            want
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(b"{\"a\": 1.5}");
        assert_eq!(
            Value::Object(decode(encoded.as_bytes()).expect("base64 json")),
            want
        );
        for (data, problem) in [
            (&b"not json"[..], "neither JSON nor base64 JSON"),
            (b"bm90IGpzb24=", "what it encodes is not JSON"),
            (b"[1, 2]", "an array, expected a JSON object"),
        ] {
            let error = decode(data).expect_err("bad data");
            assert!(error.contains(problem), "{error}");
        }
    }

    #[test]
    fn fingerprints_depend_on_model_and_values() {
        let a = fingerprint("m", &[("x".into(), 1.0)]);
        assert_eq!(a, fingerprint("m", &[("x".into(), 1.0)]));
        assert_ne!(a, fingerprint("m", &[("x".into(), 1.5)]));
        assert_ne!(a, fingerprint("m2", &[("x".into(), 1.0)]));
    }
}
