//! Alarms someone acts on (item 7 of the reliability issue): every blueprint template
//! has a CloudWatch alarm on each failure queue's depth (`AWS/SQS`
//! `ApproximateNumberOfMessagesVisible > 0`) and on each function's errors
//! (`AWS/Lambda` `Errors > 0`), both sending to the topic the parameter
//! [`ALARM_TOPIC`] names (empty by default: alarms without actions).
//!
//! A failure queue is an SQS queue of the template named as an `OnFailure`
//! destination, a `deadLetterTargetArn` (SQS redrive) or a function's `DeadLetterQueue`.

use serde_yaml::{Mapping, Value};

use crate::template::parameters;

/// The template parameter naming the SNS topic the alarms notify.
pub const ALARM_TOPIC: &str = "AlarmTopicArn";

/// What is missing for the template's failures to raise an alarm. Empty is a pass.
pub fn alarm_problems(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match parameters(template).get(ALARM_TOPIC) {
        None => problems.push(format!(
            "Parameters lacks {ALARM_TOPIC} (Type String, Default \"\": the SNS topic the alarms notify, empty for none)"
        )),
        Some(parameter) => {
            if parameter.get("Type").and_then(Value::as_str) != Some("String")
                || parameter.get("Default").and_then(Value::as_str) != Some("")
            {
                problems.push(format!(
                    "parameter {ALARM_TOPIC} must be Type String with Default \"\" (no action unless given)"
                ));
            }
        }
    }
    let empty = Mapping::new();
    let resources = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    let of_type = |types: &[&str]| -> Vec<String> {
        resources
            .iter()
            .filter(|(_, r)| {
                r.get("Type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| types.contains(&t))
            })
            .filter_map(|(id, _)| id.as_str().map(str::to_owned))
            .collect()
    };
    let queues = of_type(&["AWS::SQS::Queue"]);
    let functions = of_type(&["AWS::Serverless::Function", "AWS::Lambda::Function"]);
    let alarms: Vec<&Value> = resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::CloudWatch::Alarm"))
        .collect();

    let mut failure_queues = Vec::new();
    for resource in resources.values() {
        failure_destinations(resource, false, &mut failure_queues);
    }
    failure_queues.retain(|q| queues.contains(q));
    failure_queues.sort();
    failure_queues.dedup();
    if failure_queues.is_empty() {
        problems.push(
            "no failure queue (an SQS queue named as OnFailure destination, deadLetterTargetArn or DeadLetterQueue): failed events would be lost".into(),
        );
    }
    let watched = [
        failure_queues
            .iter()
            .map(|q| {
                (
                    q,
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "failure queue",
                )
            })
            .collect::<Vec<_>>(),
        functions
            .iter()
            .map(|f| (f, "AWS/Lambda", "Errors", "FunctionName", "function"))
            .collect(),
    ]
    .concat();
    for (id, namespace, metric, dimension, what) in watched {
        let found: Vec<&&Value> = alarms
            .iter()
            .filter(|alarm| {
                let properties = alarm.get("Properties");
                let property = |name: &str| properties.and_then(|p| p.get(name));
                property("Namespace").and_then(Value::as_str) == Some(namespace)
                    && property("MetricName").and_then(Value::as_str) == Some(metric)
                    && property("Dimensions")
                        .and_then(Value::as_sequence)
                        .is_some_and(|dims| {
                            dims.iter().any(|d| {
                                d.get("Name").and_then(Value::as_str) == Some(dimension)
                                    && d.get("Value").is_some_and(|v| names(v).contains(id))
                            })
                        })
            })
            .collect();
        let Some(alarm) = found.first() else {
            problems.push(format!(
                "{id}: no AWS::CloudWatch::Alarm on {namespace} {metric} with dimension {dimension} of this {what}"
            ));
            continue;
        };
        let properties = alarm.get("Properties");
        let property = |name: &str| properties.and_then(|p| p.get(name));
        let above_zero = property("ComparisonOperator").and_then(Value::as_str)
            == Some("GreaterThanThreshold")
            && property("Threshold").is_some_and(|t| {
                t.as_f64()
                    .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
                    == Some(0.0)
            });
        if !above_zero {
            problems.push(format!(
                "{id}: the {metric} alarm must fire above zero (ComparisonOperator GreaterThanThreshold, Threshold 0)"
            ));
        }
        if !property("AlarmActions").is_some_and(|a| names(a).iter().any(|n| n == ALARM_TOPIC)) {
            problems.push(format!(
                "{id}: the {metric} alarm's AlarmActions must come from the parameter {ALARM_TOPIC}"
            ));
        }
    }
    problems
}

/// The logical ids named under keys that hold failure destinations.
fn failure_destinations(value: &Value, inside: bool, found: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, inner) in map {
                let is_destination = matches!(
                    key.as_str(),
                    Some("OnFailure" | "deadLetterTargetArn" | "DeadLetterQueue")
                );
                failure_destinations(inner, inside || is_destination, found);
            }
            if inside {
                found.extend(names(value));
            }
        }
        Value::Sequence(items) => items
            .iter()
            .for_each(|i| failure_destinations(i, inside, found)),
        Value::Tagged(_) if inside => found.extend(names(value)),
        Value::Tagged(tagged) => failure_destinations(&tagged.value, inside, found),
        _ => {}
    }
}

/// The names a value refers to with `Ref` or `GetAtt` (either form), through any
/// intrinsic: `!GetAtt Queue.Arn` names `Queue`, `!Ref AlarmTopicArn` the parameter.
fn names(value: &Value) -> Vec<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged
            .value
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect(),
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => getatt_target(&tagged.value),
        Value::Tagged(tagged) => names(&tagged.value),
        Value::Mapping(map) => map
            .iter()
            .flat_map(|(key, inner)| match key.as_str() {
                Some("Ref") => inner.as_str().map(str::to_owned).into_iter().collect(),
                Some("Fn::GetAtt") => getatt_target(inner),
                _ => names(inner),
            })
            .collect(),
        Value::Sequence(items) => items.iter().flat_map(names).collect(),
        _ => Vec::new(),
    }
}

/// `Queue.Arn` or `[Queue, Arn]`: `Queue`.
fn getatt_target(arg: &Value) -> Vec<String> {
    let target = match arg {
        Value::String(s) => s.split('.').next().map(str::to_owned),
        Value::Sequence(parts) => parts.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    target.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).expect("YAML")
    }

    const GOOD: &str = r#"
Parameters:
  AlarmTopicArn: {Type: String, Default: ""}
Conditions:
  AlarmTopicGiven: !Not [!Equals [!Ref AlarmTopicArn, ""]]
Resources:
  InputQueue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn
  DeadLetterQueue:
    Type: AWS::SQS::Queue
  FailureQueue:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      EventInvokeConfig:
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: {"Fn::GetAtt": [FailureQueue, Arn]}
  DeadLetterQueueAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/SQS
      MetricName: ApproximateNumberOfMessagesVisible
      Dimensions: [{Name: QueueName, Value: !GetAtt DeadLetterQueue.QueueName}]
      ComparisonOperator: GreaterThanThreshold
      Threshold: 0
      AlarmActions: !If [AlarmTopicGiven, [!Ref AlarmTopicArn], !Ref AWS::NoValue]
  FailureQueueAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/SQS
      MetricName: ApproximateNumberOfMessagesVisible
      Dimensions: [{Name: QueueName, Value: !GetAtt FailureQueue.QueueName}]
      ComparisonOperator: GreaterThanThreshold
      Threshold: 0
      AlarmActions: !If [AlarmTopicGiven, [!Ref AlarmTopicArn], !Ref AWS::NoValue]
  FnErrorsAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{Name: FunctionName, Value: !Ref Fn}]
      ComparisonOperator: GreaterThanThreshold
      Threshold: "0"
      AlarmActions: !If [AlarmTopicGiven, [!Ref AlarmTopicArn], !Ref AWS::NoValue]
"#;

    /// `GOOD` with the resource `id` (and its lines) removed.
    fn without_resource(id: &str) -> String {
        let mut out = String::new();
        let mut skipping = false;
        for line in GOOD.lines() {
            if line.starts_with("  ") && !line.starts_with("   ") {
                skipping = line.trim_end() == format!("  {id}:");
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn a_template_with_both_alarms_per_queue_and_function_passes() {
        assert_eq!(alarm_problems(&yaml(GOOD)), Vec::<String>::new());
    }

    #[test]
    fn a_template_lacking_the_alarms_fails() {
        let found = alarm_problems(&yaml(&without_resource("FailureQueueAlarm")));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("FailureQueue: no AWS::CloudWatch::Alarm on AWS/SQS"),
            "{found:#?}"
        );

        let found = alarm_problems(&yaml(&without_resource("FnErrorsAlarm")));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("Fn: no AWS::CloudWatch::Alarm on AWS/Lambda Errors"),
            "{found:#?}"
        );

        let found = alarm_problems(&yaml(&without_resource("DeadLetterQueueAlarm")));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].starts_with("DeadLetterQueue: "), "{found:#?}");
    }

    #[test]
    fn alarms_without_the_topic_or_firing_at_zero_and_a_missing_parameter_fail() {
        let found = alarm_problems(&yaml(
            &GOOD.replacen("Threshold: 0", "Threshold: 5", 1).replacen(
                "AlarmActions: !If [AlarmTopicGiven, [!Ref AlarmTopicArn], !Ref AWS::NoValue]",
                "AlarmActions: []",
                1,
            ),
        ));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("must fire above zero"), "{found:#?}");
        assert!(
            found[1].contains("AlarmActions must come from"),
            "{found:#?}"
        );

        let found = alarm_problems(&yaml(
            &GOOD.replace("  AlarmTopicArn: {Type: String, Default: \"\"}\n", ""),
        ));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("Parameters lacks AlarmTopicArn"),
            "{found:#?}"
        );
    }

    #[test]
    fn a_template_without_a_failure_queue_fails() {
        let text = without_resource("InputQueue");
        let text = text.replace(
            "Destination: {\"Fn::GetAtt\": [FailureQueue, Arn]}",
            "Destination: arn:aws:sqs:elsewhere",
        );
        let found = alarm_problems(&yaml(&text));
        assert!(
            found.iter().any(|p| p.starts_with("no failure queue")),
            "{found:#?}"
        );
    }
}
