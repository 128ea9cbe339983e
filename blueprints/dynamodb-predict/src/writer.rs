//! Writes a prediction back onto its item, only while the item still exists, still
//! holds the features the prediction was made from, and does not already hold this
//! prediction (so a replayed batch writes nothing twice).

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;

use blueprint_core::report::Outcome;
use blueprint_core::v1::contracts::predict::Prediction;

use crate::features::{Candidate, FINGERPRINT};

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
        let mut names = HashMap::from([
            ("#p".to_owned(), self.attribute.to_owned()),
            ("#fp".to_owned(), FINGERPRINT.to_owned()),
        ]);
        let mut values = HashMap::from([
            (
                ":p".to_owned(),
                self.attribute_value(candidate, prediction, model),
            ),
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
            Err(e) => Outcome::Failed {
                error: format!(
                    "UpdateItem on table {}: {}",
                    candidate.table,
                    DisplayErrorContext(&e)
                ),
            },
        }
    }

    fn attribute_value(
        &self,
        candidate: &Candidate,
        p: &Prediction,
        model: &str,
    ) -> AttributeValue {
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
                map.insert("score".into(), AttributeValue::N(score.to_string()));
            }
            Prediction::Value { value } => {
                map.insert("value".into(), AttributeValue::N(value.to_string()));
            }
        }
        AttributeValue::M(map)
    }
}
