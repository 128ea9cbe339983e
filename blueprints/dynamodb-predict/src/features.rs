//! What a stream record holds for the model: its features, their fingerprint, and
//! whether the record is the function's own write coming back (the loop guard).

use std::collections::HashMap;

use aws_lambda_events::dynamodb::EventRecord;
use serde_dynamo::AttributeValue;

use blueprint_core::report::Outcome;

use crate::Settings;

/// Key of the input fingerprint inside the prediction attribute.
pub const FINGERPRINT: &str = "input_fingerprint";

/// A record ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Stream sequence number: the identifier of a batch item failure.
    pub sequence_number: String,
    pub table: String,
    pub keys: HashMap<String, AttributeValue>,
    /// Attribute name -> value, in `FEATURES` order.
    pub features: Vec<(String, f64)>,
    /// The attribute values the prediction was made from, for the write condition.
    pub feature_attributes: Vec<(String, AttributeValue)>,
    pub fingerprint: String,
    /// About the bytes of the item without the prediction attribute, for DynamoDB's
    /// 400 KB item limit.
    pub item_bytes: usize,
}

impl blueprint_core::predict::Record for Candidate {
    fn features(&self) -> &[(String, f64)] {
        &self.features
    }
}

/// The record as a [`Candidate`] for the model, or its outcome already: skipped
/// (REMOVE, the function's own write, prediction current) or rejected (a missing or
/// invalid feature: it can never be predicted as it is).
pub fn classify(record: &EventRecord, settings: &Settings) -> Result<Candidate, Outcome> {
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return Err(skip(format!("{} record", record.event_name)));
    }
    let change = &record.change;
    let new_image = &change.new_image;
    if record.event_name == "MODIFY"
        && without(&change.old_image, &settings.prediction_attribute)
            == without(new_image, &settings.prediction_attribute)
    {
        return Err(skip(format!(
            "only {} changed (the function's own write)",
            settings.prediction_attribute
        )));
    }
    let Some(sequence_number) = change.sequence_number.clone() else {
        return Err(invalid("the record has no SequenceNumber".into()));
    };
    let Some(table) = record.event_source_arn.as_deref().and_then(table_name) else {
        return Err(invalid(format!(
            "eventSourceARN {:?} does not name a table",
            record.event_source_arn
        )));
    };
    let mut features = Vec::with_capacity(settings.prediction.features.len());
    let mut feature_attributes = Vec::with_capacity(settings.prediction.features.len());
    for name in settings.prediction.features.names() {
        let value = match new_image.get(name) {
            None => {
                return Err(invalid(format!("feature attribute {name:?} is missing")));
            }
            Some(value) => value,
        };
        let AttributeValue::N(text) = value else {
            return Err(invalid(format!(
                "feature attribute {name:?} is {}, expected a number (N)",
                kind(value)
            )));
        };
        match text.parse::<f64>() {
            Ok(number) if number.is_finite() => features.push((name.to_owned(), number)),
            _ => {
                return Err(invalid(format!(
                    "feature attribute {name:?} is {text:?}, not a finite number"
                )));
            }
        }
        feature_attributes.push((name.to_owned(), value.clone()));
    }
    let fingerprint = fingerprint(&settings.prediction.model, &features);
    let stored = match new_image.get(&settings.prediction_attribute) {
        Some(AttributeValue::M(prediction)) => match prediction.get(FINGERPRINT) {
            Some(AttributeValue::S(stored)) => Some(stored.as_str()),
            _ => None,
        },
        _ => None,
    };
    if stored == Some(fingerprint.as_str()) {
        return Err(skip("the stored prediction is for these features".into()));
    }
    Ok(Candidate {
        sequence_number,
        table: table.to_owned(),
        keys: change
            .keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        features,
        feature_attributes,
        fingerprint,
        item_bytes: new_image
            .iter()
            .filter(|(name, _)| name.as_str() != settings.prediction_attribute)
            .map(|(name, value)| name.len() + crate::writer::attribute_bytes(&value.clone().into()))
            .sum(),
    })
}

fn skip(reason: String) -> Outcome {
    Outcome::Skipped { reason }
}

fn invalid(error: String) -> Outcome {
    Outcome::Rejected { error }
}

fn without(image: &serde_dynamo::Item, attribute: &str) -> HashMap<String, AttributeValue> {
    image
        .iter()
        .filter(|(k, _)| k.as_str() != attribute)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL` -> `NAME`.
pub fn table_name(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.split('/');
    (parts.next()? == "table").then_some(())?;
    parts.next().filter(|name| !name.is_empty())
}

fn kind(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::N(_) => "N",
        AttributeValue::S(_) => "a string (S)",
        AttributeValue::Bool(_) => "a boolean (BOOL)",
        AttributeValue::B(_) => "binary (B)",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::M(_) => "a map (M)",
        AttributeValue::L(_) => "a list (L)",
        AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_) => "a set",
    }
}

/// A stable hash of the model and the feature values (FNV-1a, 64 bits, hex).
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

    #[test]
    fn table_names_come_from_stream_arns() {
        assert_eq!(
            table_name(
                "arn:aws:dynamodb:us-east-1:123456789012:table/Patients/stream/2026-11-28T00:00:00.000"
            ),
            Some("Patients")
        );
        assert_eq!(table_name("arn:aws:s3:::bucket"), None);
        assert_eq!(table_name("nonsense"), None);
    }

    #[test]
    fn fingerprints_depend_on_model_and_values() {
        let a = fingerprint("m", &[("x".into(), 1.0)]);
        assert_eq!(a, fingerprint("m", &[("x".into(), 1.0)]));
        assert_ne!(a, fingerprint("m", &[("x".into(), 1.5)]));
        assert_ne!(a, fingerprint("m2", &[("x".into(), 1.0)]));
        assert_eq!(a.len(), 16);
    }
}
