//! From the request JSON to one `[rows, features]` matrix, or an error naming the field.
//!
//! Instances are objects of named features or arrays of values in feature order. Extra
//! named features are ignored, so a caller can send a whole record (a DynamoDB item, say)
//! as it is; a misspelt feature still fails, as the real one is then missing.

use serde_json::{Map, Value};

use crate::error::PredictError;
use crate::manifest::{Feature, FeatureType, Manifest};
use crate::session::Precision;

/// A parsed request: `{"model": "name[/version]", "instances": [...]}`.
#[derive(Debug)]
pub struct Request<'a> {
    pub model: &'a str,
    pub instances: &'a [Value],
}

impl<'a> Request<'a> {
    pub fn parse(input: &'a Value) -> Result<Request<'a>, PredictError> {
        let Value::Object(fields) = input else {
            return Err(invalid(format!(
                "input must be a JSON object {{\"model\": \"name[/version]\", \"instances\": [...]}}, not {}",
                kind(input)
            )));
        };
        if let Some(unknown) = fields
            .keys()
            .find(|key| !matches!(key.as_str(), "model" | "instances"))
        {
            return Err(invalid(format!(
                "input field `{unknown}` is not known; send `model` and `instances`"
            )));
        }
        let model = match fields.get("model") {
            Some(Value::String(model)) if !model.trim().is_empty() => model,
            Some(Value::String(_)) => {
                return Err(invalid(
                    "input field `model` is empty: name a served model, \"name\" or \"name/version\"".into(),
                ));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "input field `model` must be a string \"name[/version]\", not {}",
                    kind(other)
                )));
            }
            None => {
                return Err(invalid(
                    "input field `model` is missing (\"name[/version]\")".into(),
                ));
            }
        };
        let instances = match fields.get("instances") {
            Some(Value::Array(instances)) => instances,
            Some(other) => {
                return Err(invalid(format!(
                    "input field `instances` must be an array of instances, not {}",
                    kind(other)
                )));
            }
            None => return Err(invalid("input field `instances` is missing".into())),
        };
        Ok(Request { model, instances })
    }
}

/// The model reference of a describe request (`{"model": "name[/version]", "describe":
/// true}`), or `None` when `input` asks for predictions.
pub fn describe_request(input: &Value) -> Option<Result<&str, PredictError>> {
    let Value::Object(fields) = input else {
        return None;
    };
    let describe = fields.get("describe")?;
    if describe != &Value::Bool(true) {
        return Some(Err(invalid(format!(
            "input field `describe` must be true (to list the model's features), not {}",
            kind(describe)
        ))));
    }
    if let Some(unknown) = fields
        .keys()
        .find(|key| !matches!(key.as_str(), "model" | "describe"))
    {
        return Some(Err(invalid(format!(
            "input field `{unknown}` is not known with `describe`; send only `model` and `describe`"
        ))));
    }
    Some(match fields.get("model") {
        Some(Value::String(model)) if !model.is_empty() => Ok(model.as_str()),
        _ => Err(invalid(
            "input field `model` must be a string \"name[/version]\"".into(),
        )),
    })
}

/// Rows of feature values, row-major, in the manifest's feature order.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub rows: usize,
    pub values: Vec<f64>,
}

/// Checks every instance against `manifest` and lays them out for one model run.
pub fn batch(
    instances: &[Value],
    manifest: &Manifest,
    precision: Precision,
    max_batch: usize,
) -> Result<Batch, PredictError> {
    if instances.len() > max_batch {
        return Err(invalid(format!(
            "input field `instances` holds {} instances, over the limit of {max_batch} per call \
             (instances[{max_batch}] onward); split the batch or raise --predict-max-batch",
            instances.len()
        )));
    }
    let width = manifest.features.len();
    let mut values = Vec::with_capacity(instances.len() * width);
    for (index, instance) in instances.iter().enumerate() {
        match instance {
            Value::Object(named) => {
                push_named(&mut values, index, named, &manifest.features, precision)?
            }
            Value::Array(positional) if positional.len() == width => {
                for (position, (feature, value)) in
                    manifest.features.iter().zip(positional).enumerate()
                {
                    values.push(number(value, feature, precision).map_err(|problem| {
                        invalid(format!(
                            "instances[{index}][{position}] (feature `{}`) {problem}",
                            feature.name
                        ))
                    })?);
                }
            }
            Value::Array(positional) => {
                return Err(invalid(format!(
                    "instances[{index}]: array of {} values; model {} takes {width}, in the order of its manifest's `features`",
                    positional.len(),
                    manifest.name
                )));
            }
            other => {
                return Err(invalid(format!(
                    "instances[{index}] must be an object of features or an array of {width} values, not {}",
                    kind(other)
                )));
            }
        }
    }
    Ok(Batch {
        rows: instances.len(),
        values,
    })
}

fn push_named(
    values: &mut Vec<f64>,
    index: usize,
    named: &Map<String, Value>,
    features: &[Feature],
    precision: Precision,
) -> Result<(), PredictError> {
    for feature in features {
        let at = |problem: String| {
            invalid(format!(
                "instances[{index}]: feature `{}` {problem}",
                feature.name
            ))
        };
        let value = named
            .get(&feature.name)
            .ok_or_else(|| at("is missing".into()))?;
        values.push(number(value, feature, precision).map_err(at)?);
    }
    Ok(())
}

/// The feature's value as a float, or what is wrong with it (completing "feature `x` ...").
fn number(value: &Value, feature: &Feature, precision: Precision) -> Result<f64, String> {
    let wanted = feature.kind.describe();
    let number = match (feature.kind, value) {
        (FeatureType::Boolean, Value::Bool(flag)) => return Ok(f64::from(u8::from(*flag))),
        (FeatureType::Boolean, other) => {
            return Err(format!("must be {wanted}, not {}", kind(other)));
        }
        (_, Value::Number(number)) => number.as_f64().unwrap_or(f64::NAN),
        (_, Value::String(text)) if is_non_finite(text) => {
            return Err(format!(
                "is {text:?}: NaN and infinity are not accepted, send a finite number"
            ));
        }
        (_, other) => return Err(format!("must be {wanted}, not {}", kind(other))),
    };
    if !number.is_finite() {
        return Err("is NaN or infinite: send a finite number".into());
    }
    if feature.kind == FeatureType::Integer && number.fract() != 0.0 {
        return Err(format!("must be {wanted}, not {value}"));
    }
    if precision == Precision::F32 && number.abs() > f64::from(f32::MAX) {
        return Err(format!(
            "is {value}, infinite as the model's float32 input: send a smaller number"
        ));
    }
    Ok(number)
}

fn is_non_finite(text: &str) -> bool {
    let bare = text
        .trim()
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase();
    matches!(bare.as_str(), "nan" | "inf" | "infinity")
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

fn invalid(message: String) -> PredictError {
    PredictError::Input(message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::manifest::Task;

    fn manifest() -> Manifest {
        serde_json::from_value(json!({
            "name": "toy", "version": "1.0.0", "kind": "regressor",
            "features": [
                {"name": "x", "type": "float"},
                {"name": "n", "type": "integer"},
                {"name": "on", "type": "boolean"}
            ]
        }))
        .expect("manifest")
    }

    fn error(instances: Value) -> String {
        let instances = instances.as_array().expect("array").clone();
        match batch(&instances, &manifest(), Precision::F32, 3) {
            Err(PredictError::Input(message)) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn named_and_positional_rows_lay_out_in_feature_order() {
        let instances = [
            json!({"on": true, "n": 2, "x": 0.5, "other": "ignored"}),
            json!([1.5, -3, false]),
        ];
        let batch = batch(&instances, &manifest(), Precision::F32, 3).expect("batch");
        assert_eq!(manifest().kind, Task::Regressor);
        assert_eq!(
            batch,
            Batch {
                rows: 2,
                values: vec![0.5, 2.0, 1.0, 1.5, -3.0, 0.0]
            }
        );
    }

    #[test]
    fn typed_features_refuse_other_json() {
        assert_eq!(
            error(json!([{"x": 1, "n": 2.5, "on": true}])),
            "instances[0]: feature `n` must be an integer, not 2.5"
        );
        assert_eq!(
            error(json!([{"x": 1, "n": 2, "on": 1}])),
            "instances[0]: feature `on` must be true or false, not a number"
        );
        assert_eq!(
            error(json!([[1, 2, true], ["inf", 2, true]])),
            "instances[1][0] (feature `x`) is \"inf\": NaN and infinity are not accepted, send a finite number"
        );
        assert!(error(json!([{}, {}, {}, {}])).contains("holds 4 instances, over the limit of 3"));
    }

    #[test]
    fn float64_inputs_take_numbers_beyond_float32() {
        let instances = [json!([1e300, 1, true])];
        let batch = batch(&instances, &manifest(), Precision::F64, 3).expect("batch");
        assert_eq!(batch.values[0], 1e300);
    }

    #[test]
    fn describe_requests_name_only_the_model() {
        let input = json!({"model": "toy/1.*", "describe": true});
        assert_eq!(
            describe_request(&input).map(Result::ok),
            Some(Some("toy/1.*"))
        );
        assert!(describe_request(&json!({"model": "toy", "instances": []})).is_none());
        for bad in [
            json!({"model": "toy", "describe": false}),
            json!({"model": "toy", "describe": true, "instances": []}),
            json!({"describe": true}),
        ] {
            assert!(
                matches!(describe_request(&bad), Some(Err(PredictError::Input(_)))),
                "{bad}"
            );
        }
    }

    #[test]
    fn requests_need_model_and_instances_only() {
        let input = json!({"model": "toy/1.*", "instances": []});
        let request = Request::parse(&input).expect("request");
        assert_eq!((request.model, request.instances.len()), ("toy/1.*", 0));
        let input = json!({"model": "", "instances": []});
        let error = Request::parse(&input).expect_err("empty model");
        assert!(error.to_string().contains("`model` is empty"), "{error}");
    }
}
