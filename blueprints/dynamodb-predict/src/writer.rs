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

use crate::batch::Prediction;
use crate::features::{Candidate, FINGERPRINT};

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Written,
    /// The condition failed: the item was deleted, changed, or already holds this prediction.
    Superseded,
    Failed(String),
}

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
    ) -> WriteOutcome {
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
            Ok(_) => WriteOutcome::Written,
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                WriteOutcome::Superseded
            }
            Err(e) => WriteOutcome::Failed(format!(
                "UpdateItem on table {}: {}",
                candidate.table,
                DisplayErrorContext(&e)
            )),
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
        if let Some(label) = &p.label {
            map.insert("label".into(), AttributeValue::S(label.clone()));
        }
        for (name, number) in [("score", p.score), ("value", p.value)] {
            if let Some(number) = number {
                map.insert(name.into(), AttributeValue::N(number.to_string()));
            }
        }
        AttributeValue::M(map)
    }
}
