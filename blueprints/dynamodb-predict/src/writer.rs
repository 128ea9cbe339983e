//! Writes a prediction back onto its item, only while the item still exists, still
//! holds the features the prediction was made from, and does not already hold this
//! prediction (so a replayed batch writes nothing twice).
//!
//! A write DynamoDB would refuse for good (a number out of its range, an item over
//! 400 KB) is found before the call and rejected, as is one DynamoDB answers with
//! `ValidationException`: retrying the same write cannot help.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;

use blueprint_core::report::Outcome;
use blueprint_core::v1::contracts::predict::Prediction;

use crate::features::{Candidate, FINGERPRINT};

/// DynamoDB's largest item. AWS states "400 KB"; the decimal reading is the safe one.
pub const MAX_ITEM_BYTES: usize = 400_000;
/// The magnitudes a DynamoDB number holds, 1E-130 up to (not including) 1E+126 (38
/// significant digits; `f64` has 17).
pub const MIN_NUMBER: f64 = 1e-130;
pub const NUMBER_BOUND: f64 = 1e126;

/// What DynamoDB's limits say about a write, in words naming the limit.
const LIMITS: &str = "DynamoDB's limits: 400 KB an item, numbers of up to 38 digits with magnitudes from 1E-130 to 9.99E+125";

pub struct PredictionWriter<'a> {
    pub dynamodb: &'a DynamoDb,
    pub attribute: &'a str,
}

impl PredictionWriter<'_> {
    pub async fn write(
        &self,
        candidate: &Candidate,
        prediction: &Prediction,
        model: &str,
    ) -> Outcome {
        let rejected = |problem: String| Outcome::Rejected {
            error: format!(
                "not written to table {}: {problem}; retrying cannot help",
                candidate.table
            ),
        };
        let prediction_value = match self.attribute_value(candidate, prediction, model) {
            Ok(value) => value,
            Err(problem) => return rejected(problem),
        };
        let item_bytes =
            candidate.item_bytes + self.attribute.len() + attribute_bytes(&prediction_value);
        if item_bytes > MAX_ITEM_BYTES {
            return rejected(format!(
                "with {} the item would be about {item_bytes} bytes, over DynamoDB's 400 KB item limit ({MAX_ITEM_BYTES} bytes)",
                self.attribute
            ));
        }
        let mut names = HashMap::from([
            ("#p".to_owned(), self.attribute.to_owned()),
            ("#fp".to_owned(), FINGERPRINT.to_owned()),
        ]);
        let mut values = HashMap::from([
            (":p".to_owned(), prediction_value),
            (
                ":fp".to_owned(),
                AttributeValue::S(candidate.fingerprint.clone()),
            ),
        ]);
        let mut conditions = Vec::new();
        if let Some(key) = candidate.keys.keys().min() {
            names.insert("#k".into(), key.clone());
            conditions.push("attribute_exists(#k)".to_owned());
        }
        for (i, (name, value)) in candidate.feature_attributes.iter().enumerate() {
            names.insert(format!("#f{i}"), name.clone());
            values.insert(format!(":f{i}"), value.clone().into());
            conditions.push(format!("#f{i} = :f{i}"));
        }
        conditions.push("(attribute_not_exists(#p.#fp) OR #p.#fp <> :fp)".into());
        let result = self
            .dynamodb
            .update_item()
            .table_name(&candidate.table)
            .set_key(Some(
                candidate
                    .keys
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect(),
            ))
            .update_expression("SET #p = :p")
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Outcome::Done {
                outputs: vec![format!("{}.{}", candidate.table, self.attribute)],
            },
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Outcome::Skipped {
                    reason: "not written: the item was deleted, changed, or holds this prediction already".into(),
                }
            }
            Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("ValidationException") => {
                rejected(format!(
                    "DynamoDB refused UpdateItem as invalid ({LIMITS}): {}",
                    DisplayErrorContext(&e)
                ))
            }
            Err(e) => Outcome::Failed {
                error: format!(
                    "UpdateItem on table {}: {}",
                    candidate.table,
                    DisplayErrorContext(&e)
                ),
            },
        }
    }

    /// The prediction as the attribute written, or why DynamoDB could not hold it.
    fn attribute_value(
        &self,
        candidate: &Candidate,
        p: &Prediction,
        model: &str,
    ) -> Result<AttributeValue, String> {
        let mut map = HashMap::from([
            ("model".to_owned(), AttributeValue::S(model.to_owned())),
            (
                FINGERPRINT.to_owned(),
                AttributeValue::S(candidate.fingerprint.clone()),
            ),
            (
                "predicted_at".to_owned(),
                AttributeValue::S(
                    DateTime::from(SystemTime::now())
                        .fmt(DateTimeFormat::DateTime)
                        .unwrap_or_default(),
                ),
            ),
        ]);
        match p {
            Prediction::Class { label, score } => {
                map.insert("label".into(), AttributeValue::S(label.clone()));
                map.insert("score".into(), number("score", *score)?);
            }
            Prediction::Value { value } => {
                map.insert("value".into(), number("value", *value)?);
            }
        }
        Ok(AttributeValue::M(map))
    }
}

/// `value` as a DynamoDB number, or why DynamoDB cannot hold it (`name` says which).
/// Rust prints `f64` in plain decimals of at most 17 significant digits; DynamoDB trims
/// leading and trailing zeros, so only the magnitude can be out of its range.
pub fn number(name: &str, value: f64) -> Result<AttributeValue, String> {
    let magnitude = value.abs();
    if !value.is_finite() || magnitude >= NUMBER_BOUND || (value != 0.0 && magnitude < MIN_NUMBER) {
        return Err(format!(
            "the prediction's {name} {value:e} is outside DynamoDB's number range (magnitudes from 1E-130 to 9.99E+125, or 0)"
        ));
    }
    Ok(AttributeValue::N(value.to_string()))
}

/// About the bytes DynamoDB counts for a value (names of nested attributes included),
/// by its item-size rules; numbers are counted at their text's length, an upper bound.
pub fn attribute_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) | AttributeValue::N(text) => text.len(),
        AttributeValue::B(bytes) => bytes.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(items) | AttributeValue::Ns(items) => {
            items.iter().map(String::len).sum()
        }
        AttributeValue::Bs(items) => items.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| attribute_bytes(v) + 1).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() + attribute_bytes(v) + 1)
                .sum::<usize>()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_out_of_dynamodbs_range_are_refused_by_name() {
        assert_eq!(number("score", 0.25), Ok(AttributeValue::N("0.25".into())));
        assert_eq!(number("value", 0.0), Ok(AttributeValue::N("0".into())));
        assert!(number("value", -1e125).is_ok());
        assert!(number("value", 1.5e-130).is_ok());
        for bad in [1e126, -3e200, 1e-131, -5e-300, f64::INFINITY, f64::NAN] {
            let err = number("value", bad).expect_err("out of range");
            assert!(
                err.starts_with("the prediction's value") && err.contains("1E-130 to 9.99E+125"),
                "{err}"
            );
        }
    }

    #[test]
    fn item_sizes_count_names_and_values() {
        let map = AttributeValue::M(HashMap::from([
            ("label".to_owned(), AttributeValue::S("benign".into())),
            ("score".to_owned(), AttributeValue::N("0.5".into())),
        ]));
        // 3 + (5 + 6 + 1) + (5 + 3 + 1)
        assert_eq!(attribute_bytes(&map), 24);
    }
}
