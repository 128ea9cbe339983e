//! The sample events under blueprints/dynamodb-predict/events parse as stream
//! batches, and each record is what its name says: predicted, skipped or invalid.

use std::path::Path;

use aws_lambda_events::dynamodb::Event;
use blueprint_core::report::Outcome;
use dynamodb_predict::Settings;
use dynamodb_predict::features::classify;

fn load(name: &str) -> Event {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("sample event");
    serde_json::from_str(&text).expect("a DynamoDB stream event")
}

fn verdicts(name: &str) -> Vec<String> {
    let settings = Settings::from_env(|k| match k {
        "ALGORITHMIA_API_KEY" => Some("simK".into()),
        "MODEL" => Some("diabetes/1.0.0".into()),
        "FEATURES" => Some("age,sex,bmi,bp,s1,s2,s3,s4,s5,s6".into()),
        _ => None,
    })
    .expect("settings");
    load(name)
        .records
        .iter()
        .map(|record| match classify(record, &settings) {
            Ok(c) => {
                assert!(
                    c.table
                        .starts_with("aws-ml-blueprints-dynamodb-predict-Table"),
                    "{}",
                    c.table
                );
                format!("predict {}", c.sequence_number)
            }
            Err(Outcome::Skipped { reason }) => format!("skip: {reason}"),
            Err(Outcome::Rejected { error }) => format!("invalid: {error}"),
            Err(other) => panic!("classify only skips or rejects: {other:?}"),
        })
        .collect()
}

#[test]
fn sample_events_classify_as_named() {
    assert_eq!(
        verdicts("stream-batch.json"),
        [
            "predict 100000000000000000001",
            "predict 100000000000000000002",
            "skip: REMOVE record"
        ]
    );
    assert_eq!(
        verdicts("own-write.json"),
        ["skip: only prediction changed (the function's own write)"]
    );
    assert_eq!(
        verdicts("bad-feature.json"),
        [
            "invalid: feature attribute \"bmi\" is a string (S), expected a number (N)",
            "predict 100000000000000000006"
        ]
    );
}
