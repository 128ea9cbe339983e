//! `blueprints/Predict` against the real binary over HTTP, with the models `make models`
//! trains (breast-cancer 1.0.0 and 1.1.0, diabetes 1.0.0).

mod common;

use std::path::PathBuf;

use axum::http::StatusCode;
use common::{Server, error_message};
use serde_json::{Value, json};

const PREDICT: &str = "/v1/algo/blueprints/Predict/1.0.0";

fn models_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    assert!(
        dir.join("predict").is_dir() && dir.join("onnxruntime/libonnxruntime.so").is_file(),
        "{} lacks predict/ or onnxruntime/libonnxruntime.so: run `make models`",
        dir.display()
    );
    dir
}

fn start(extra: &[&str]) -> Server {
    let dir = models_dir();
    let dir = dir.to_str().expect("UTF-8 path");
    let mut args = vec!["--allow-anonymous", "--models-dir", dir];
    args.extend_from_slice(extra);
    Server::start_raw(&args).unwrap_or_else(|output| panic!("server did not start: {output}"))
}

fn expected(model: &str) -> Vec<Value> {
    let path = models_dir()
        .join("predict")
        .join(model)
        .join("expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("expected.json parses")
}

fn features(rows: &[Value]) -> Vec<Value> {
    rows.iter().map(|row| row["features"].clone()).collect()
}

/// Within 1e-5, relative to the value once it is above 1 (float32 steps at diabetes'
/// 25..350 are 1.5e-5 to 3e-5; probabilities are compared absolutely).
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-5 * want.abs().max(1.0)
}

/// Checks `predictions` against expected.json rows `rows` (cycled).
fn assert_matches(model: &str, predictions: &Value, rows: &[Value]) {
    let predictions = predictions.as_array().expect("predictions array");
    for (index, got) in predictions.iter().enumerate() {
        let want = &rows[index % rows.len()];
        if let Some(value) = want["value"].as_f64() {
            let got_value = got["value"]
                .as_f64()
                .unwrap_or_else(|| panic!("{model} row {index}: {got}"));
            assert!(
                close(got_value, value),
                "{model} row {index}: {got_value} vs {value}"
            );
        } else {
            assert_eq!(got["label"], want["label"], "{model} row {index}");
            let (score, want_score) = (got["score"].as_f64(), want["score"].as_f64());
            let (score, want_score) = (score.expect("score"), want_score.expect("score"));
            assert!(
                (score - want_score).abs() <= 1e-5,
                "{model} row {index}: {score} vs {want_score}"
            );
        }
    }
}

async fn predict(server: &Server, input: &Value) -> Value {
    let (status, reply) = server.call_json(PREDICT, input).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply.get("error").is_none(), "{input} -> {reply}");
    assert_eq!(reply["metadata"]["content_type"], "json");
    reply["result"].clone()
}

#[tokio::test]
async fn predictions_equal_expected_on_every_held_out_row() {
    let server = start(&[]);
    for model in [
        "breast-cancer/1.0.0",
        "breast-cancer/1.1.0",
        "diabetes/1.0.0",
    ] {
        let rows = expected(model);
        let result = predict(
            &server,
            &json!({"model": model, "instances": features(&rows)}),
        )
        .await;
        assert_eq!(result["model"], model);
        assert_eq!(
            result["predictions"].as_array().map(Vec::len),
            Some(rows.len())
        );
        assert_matches(model, &result["predictions"], &rows);
    }
}

#[tokio::test]
async fn a_batch_of_1000_in_one_call() {
    let server = start(&[]);
    let rows = expected("breast-cancer/1.1.0");
    let named = features(&rows);
    // Half named, half positional (values in manifest order, as expected.json lists them).
    let instances: Vec<Value> = named
        .iter()
        .cycle()
        .take(1000)
        .enumerate()
        .map(|(index, row)| match row {
            Value::Object(fields) if index % 2 == 1 => Value::Array(fields_in_order(fields)),
            other => other.clone(),
        })
        .collect();
    let result = predict(
        &server,
        &json!({"model": "breast-cancer", "instances": instances}),
    )
    .await;
    assert_eq!(result["model"], "breast-cancer/1.1.0");
    assert_eq!(result["predictions"].as_array().map(Vec::len), Some(1000));
    assert_matches("breast-cancer/1.1.0", &result["predictions"], &rows);
}

fn fields_in_order(fields: &serde_json::Map<String, Value>) -> Vec<Value> {
    let manifest = models_dir().join("predict/breast-cancer/1.1.0/manifest.json");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).expect("manifest")).expect("JSON");
    manifest["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|feature| fields[feature["name"].as_str().expect("name")].clone())
        .collect()
}

#[tokio::test]
async fn two_versions_side_by_side() {
    let server = start(&[]);
    let old = expected("breast-cancer/1.0.0");
    let new = expected("breast-cancer/1.1.0");
    for (reference, resolved, rows) in [
        ("breast-cancer", "breast-cancer/1.1.0", &new),
        ("breast-cancer/1.0.0", "breast-cancer/1.0.0", &old),
        ("breast-cancer/1.1.0", "breast-cancer/1.1.0", &new),
        ("breast-cancer/1.*", "breast-cancer/1.1.0", &new),
        ("breast-cancer/1.0.*", "breast-cancer/1.0.0", &old),
    ] {
        let result = predict(
            &server,
            &json!({"model": reference, "instances": features(rows)}),
        )
        .await;
        assert_eq!(result["model"], resolved, "{reference}");
        assert_matches(resolved, &result["predictions"], rows);
    }
    // Same rows, different models: the scores differ.
    let one = json!([old[0]["features"]]);
    let a = predict(
        &server,
        &json!({"model": "breast-cancer/1.0.0", "instances": one}),
    )
    .await;
    let b = predict(
        &server,
        &json!({"model": "breast-cancer/1.1.0", "instances": one}),
    )
    .await;
    assert_ne!(a["predictions"][0]["score"], b["predictions"][0]["score"]);
}

#[tokio::test]
async fn every_bad_input_names_its_instance_and_field() {
    let server = start(&["--predict-max-batch", "50"]);
    let good = expected("diabetes/1.0.0")[0]["features"].clone();
    let with = |feature: &str, value: Value| {
        let mut row = good.clone();
        row[feature] = value;
        json!({"model": "diabetes", "instances": [good, row]})
    };
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("bmi");
    let cases = [
        (
            json!({"model": "diabetes", "instances": [good, good, missing]}),
            "instances[2]: feature `bmi` is missing",
        ),
        (
            with("bmi", json!("high")),
            "instances[1]: feature `bmi` must be a number, not a string",
        ),
        (
            with("bmi", json!([1])),
            "instances[1]: feature `bmi` must be a number, not an array",
        ),
        (
            with("bmi", Value::Null),
            "instances[1]: feature `bmi` must be a number, not null",
        ),
        (
            with("bmi", json!("NaN")),
            "instances[1]: feature `bmi` is \"NaN\": NaN and infinity are not accepted",
        ),
        (
            with("bmi", json!("Infinity")),
            "instances[1]: feature `bmi` is \"Infinity\"",
        ),
        (
            with("bmi", json!(-1e39)),
            "instances[1]: feature `bmi` is -1e+39, infinite as the model's float32 input",
        ),
        (
            json!({"model": "diabetes", "instances": [[0, 0, 0]]}),
            "instances[0]: array of 3 values; model diabetes takes 10",
        ),
        (
            json!({"model": "diabetes", "instances": [[0, 0, true, 0, 0, 0, 0, 0, 0, 0]]}),
            "instances[0][2] (feature `bmi`) must be a number, not a boolean",
        ),
        (
            json!({"model": "diabetes", "instances": [good, 7]}),
            "instances[1] must be an object of features or an array of 10 values",
        ),
        (
            json!({"model": "nope", "instances": [good]}),
            "input field `model`: no model named \"nope\"; served: breast-cancer 1.0.0, 1.1.0; diabetes 1.0.0",
        ),
        (
            json!({"model": "diabetes/2.0.0", "instances": [good]}),
            "input field `model`: model \"diabetes\" has no version matching `2.0.0`; versions: 1.0.0",
        ),
        (
            json!({"model": "breast-cancer/9.*", "instances": [good]}),
            "has no version matching `9.*`; versions: 1.0.0, 1.1.0",
        ),
        (
            json!({"model": "diabetes", "instances": vec![good.clone(); 51]}),
            "input field `instances` holds 51 instances, over the limit of 50 per call (instances[50] onward)",
        ),
        (
            json!({"model": "diabetes"}),
            "input field `instances` is missing",
        ),
        (
            json!({"instances": [good]}),
            "input field `model` is missing",
        ),
        (
            json!({"model": "diabetes", "rows": []}),
            "input field `rows` is not known",
        ),
    ];
    for (input, want) in cases {
        let (status, reply) = server.call_json(PREDICT, &input).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "algorithm errors come back with 200: {reply}"
        );
        assert_eq!(reply["error"]["error_type"], "InputError", "{reply}");
        let message = error_message(&reply);
        assert!(
            message.contains(want),
            "\n  got:  {message}\n  want: {want}"
        );
    }
    // At the limit is fine.
    let result = predict(
        &server,
        &json!({"model": "diabetes", "instances": vec![good.clone(); 50]}),
    )
    .await;
    assert_eq!(result["predictions"].as_array().map(Vec::len), Some(50));
    // With output=raw an input error is an HTTP 400.
    let raw = server
        .call(
            &format!("{PREDICT}?output=raw"),
            "application/json",
            json!({"model": "nope", "instances": []}).to_string(),
        )
        .await;
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn extra_features_are_ignored_and_text_json_is_accepted() {
    let server = start(&[]);
    let row = expected("diabetes/1.0.0")[0].clone();
    let mut padded = row["features"].clone();
    padded["patient_id"] = json!("p-17");
    padded["notes"] = json!({"any": "thing"});
    let plain = predict(
        &server,
        &json!({"model": "diabetes", "instances": [row["features"]]}),
    )
    .await;
    let extra = predict(
        &server,
        &json!({"model": "diabetes", "instances": [padded]}),
    )
    .await;
    assert_eq!(plain, extra);

    let as_text = json!({"model": "diabetes", "instances": [row["features"]]}).to_string();
    let reply: Value = server
        .call(PREDICT, "text/plain", as_text)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(reply["result"], plain, "{reply}");

    let (_, reply) = server.call_bytes(PREDICT, b"{}".to_vec()).await;
    assert!(error_message(&reply).contains("not bytes"), "{reply}");
    let empty = predict(&server, &json!({"model": "diabetes", "instances": []})).await;
    assert_eq!(empty, json!({"model": "diabetes/1.0.0", "predictions": []}));
}

#[tokio::test]
async fn without_models_the_server_starts_and_predict_says_what_to_install() {
    let empty = std::env::temp_dir().join(format!("algo-server-no-models-{}", std::process::id()));
    let server = Server::start_raw(&[
        "--allow-anonymous",
        "--models-dir",
        empty.to_str().expect("path"),
    ])
    .unwrap_or_else(|output| panic!("server did not start: {output}"));
    let (status, reply) = server
        .call_json(PREDICT, &json!({"model": "diabetes", "instances": []}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["error"]["error_type"], "AlgorithmError", "{reply}");
    let message = error_message(&reply);
    assert!(message.contains("make models"), "{message}");
    // The rest of the server works.
    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Echo/1.0.0", &json!({"a": 1}))
        .await;
    assert_eq!(
        (status, &reply["result"]),
        (StatusCode::OK, &json!({"a": 1}))
    );
}

#[tokio::test]
async fn predict_is_listed() {
    let server = start(&[]);
    let listing: Value = common::client()
        .get(server.url("/v1/algorithms"))
        .send()
        .await
        .expect("listing")
        .json()
        .await
        .expect("JSON");
    let entry = listing["algorithms"]
        .as_array()
        .expect("array")
        .iter()
        .find(|entry| entry["algorithm"] == "blueprints/Predict")
        .unwrap_or_else(|| panic!("Predict missing from {listing}"))
        .clone();
    assert!(
        entry["input"]
            .as_str()
            .is_some_and(|text| text.contains("instances")),
        "{entry}"
    );
}

/// `{"model", "describe": true}` answers the model's features in order, so a caller
/// (dynamodb-predict's cold start) can check its mapping before predicting anything.
#[tokio::test]
async fn describe_lists_a_models_features_in_order() {
    let server = start(&[]);
    let described = predict(
        &server,
        &json!({"model": "breast-cancer/1.*", "describe": true}),
    )
    .await;
    assert_eq!(described["model"], "breast-cancer/1.1.0");
    let manifest = models_dir().join("predict/breast-cancer/1.1.0/manifest.json");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).expect("manifest")).expect("JSON");
    let names: Vec<&Value> = described["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|feature| &feature["name"])
        .collect();
    let want: Vec<&Value> = manifest["features"]
        .as_array()
        .expect("manifest features")
        .iter()
        .map(|feature| &feature["name"])
        .collect();
    assert_eq!((names.len(), names), (30, want));
    assert_eq!(described["features"][0]["type"], "float");

    for (input, want) in [
        (
            json!({"model": "nope", "describe": true}),
            "input field `model`: no model named \"nope\"",
        ),
        (
            json!({"model": "diabetes", "describe": true, "instances": []}),
            "input field `instances` is not known with `describe`",
        ),
    ] {
        let (status, reply) = server.call_json(PREDICT, &input).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(reply["error"]["error_type"], "InputError", "{reply}");
        assert!(error_message(&reply).contains(want), "{reply}");
    }
}
