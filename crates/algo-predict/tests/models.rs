//! The real models `make models` trains, through the real ONNX Runtime library.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use algo_predict::runtime::{Runtime, library_path};
use algo_predict::{Options, PredictError, Prediction, Predictor, SetupError};
use serde_json::{Value, json};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// One predictor for the whole test binary (loading is cheap, but ONNX Runtime keeps
/// the first library a process loads).
fn predictor() -> &'static Predictor {
    static PREDICTOR: OnceLock<Predictor> = OnceLock::new();
    PREDICTOR.get_or_init(|| {
        Predictor::open(&models_dir(), Options { max_batch: 1000 })
            .unwrap_or_else(|error| panic!("{error}\n(run `make models` first)"))
    })
}

fn expected(model: &str) -> Vec<Value> {
    let path = models_dir()
        .join("predict")
        .join(model)
        .join("expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error} (run `make models`)", path.display()));
    serde_json::from_str(&text).expect("expected.json parses")
}

/// Within 1e-5, relative to the value once it is above 1: float32 steps are 1.5e-5 to
/// 3e-5 at this data set's 25..350, and ONNX Runtime's tree-ensemble sums differ by such a
/// step between 1 and 2 intra-op threads (the server runs 1, expected.json was made with 2).
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-5 * want.abs().max(1.0)
}

fn input_error(input: Value) -> String {
    match predictor().predict(&input) {
        Err(PredictError::Input(message)) => message,
        other => panic!("expected an input error for {input}, got {other:?}"),
    }
}

fn breast_cancer_row() -> Value {
    expected("breast-cancer/1.1.0")[0]["features"].clone()
}

#[test]
fn classifiers_match_expected_on_every_held_out_row() {
    for model in ["breast-cancer/1.0.0", "breast-cancer/1.1.0"] {
        let rows = expected(model);
        let instances: Vec<Value> = rows.iter().map(|row| row["features"].clone()).collect();
        let reply = predictor()
            .predict(&json!({"model": model, "instances": instances}))
            .expect("prediction");
        assert_eq!(reply.model, model);
        assert_eq!(reply.predictions.len(), rows.len());
        for (index, (got, want)) in reply.predictions.iter().zip(&rows).enumerate() {
            let Prediction::Class { label, score } = got else {
                panic!("{model} row {index}: {got:?} is not a class");
            };
            assert_eq!(
                label,
                want["label"].as_str().expect("label"),
                "{model} row {index}"
            );
            let want_score = want["score"].as_f64().expect("score");
            assert!(
                (score - want_score).abs() <= 1e-5,
                "{model} row {index}: {score} vs {want_score}"
            );
        }
    }
}

#[test]
fn regressor_matches_expected_on_every_held_out_row() {
    let rows = expected("diabetes/1.0.0");
    let instances: Vec<Value> = rows.iter().map(|row| row["features"].clone()).collect();
    let reply = predictor()
        .predict(&json!({"model": "diabetes", "instances": instances}))
        .expect("prediction");
    assert_eq!(reply.model, "diabetes/1.0.0");
    for (index, (got, want)) in reply.predictions.iter().zip(&rows).enumerate() {
        let Prediction::Value { value } = got else {
            panic!("row {index}: {got:?} is not a value");
        };
        let want = want["value"].as_f64().expect("value");
        assert!(close(*value, want), "row {index}: {value} vs {want}");
    }
}

#[test]
fn positional_arrays_equal_named_features() {
    let manifest = &predictor()
        .catalog()
        .resolve("diabetes")
        .expect("model")
        .manifest;
    let rows = expected("diabetes/1.0.0");
    let named: Vec<Value> = rows
        .iter()
        .take(5)
        .map(|row| row["features"].clone())
        .collect();
    let positional: Vec<Value> = named
        .iter()
        .map(|row| {
            Value::Array(
                manifest
                    .features
                    .iter()
                    .map(|f| row[&f.name].clone())
                    .collect(),
            )
        })
        .collect();
    let by_name = predictor().predict(&json!({"model": "diabetes", "instances": named}));
    let by_position = predictor().predict(&json!({"model": "diabetes", "instances": positional}));
    assert_eq!(by_name.expect("named"), by_position.expect("positional"));
}

#[test]
fn versions_resolve_to_the_newest_match() {
    for (reference, resolved) in [
        ("breast-cancer", "breast-cancer/1.1.0"),
        ("breast-cancer/1.0.0", "breast-cancer/1.0.0"),
        ("breast-cancer/1.*", "breast-cancer/1.1.0"),
        ("breast-cancer/1.0.*", "breast-cancer/1.0.0"),
        ("breast-cancer/latestPrivate", "breast-cancer/1.1.0"),
        ("diabetes/1.0.0", "diabetes/1.0.0"),
    ] {
        let model = predictor().catalog().resolve(reference).expect(reference);
        assert_eq!(model.id(), resolved, "{reference}");
    }
    // The two versions really are different models.
    let instances = json!([breast_cancer_row()]);
    let old = predictor().predict(&json!({"model": "breast-cancer/1.0.0", "instances": instances}));
    let new = predictor().predict(&json!({"model": "breast-cancer/1.1.0", "instances": instances}));
    assert_ne!(
        old.expect("1.0.0").predictions,
        new.expect("1.1.0").predictions
    );
}

#[test]
fn unknown_models_and_versions_are_named() {
    let message = input_error(json!({"model": "nope", "instances": []}));
    assert!(
        message.contains("`model`") && message.contains("\"nope\""),
        "{message}"
    );
    assert!(message.contains("breast-cancer 1.0.0, 1.1.0"), "{message}");
    let message = input_error(json!({"model": "breast-cancer/2.*", "instances": []}));
    assert!(
        message.contains("no version matching `2.*`") && message.contains("1.0.0, 1.1.0"),
        "{message}"
    );
    let message = input_error(json!({"model": "breast-cancer/abc", "instances": []}));
    assert!(message.contains("\"abc\""), "{message}");
}

#[test]
fn a_batch_of_1000_is_one_call_and_1001_is_refused() {
    let rows = expected("breast-cancer/1.0.0");
    let instances: Vec<Value> = rows
        .iter()
        .cycle()
        .take(1000)
        .map(|row| row["features"].clone())
        .collect();
    let reply = predictor()
        .predict(&json!({"model": "breast-cancer/1.0.0", "instances": instances}))
        .expect("1000 rows");
    assert_eq!(reply.predictions.len(), 1000);
    for (index, got) in reply.predictions.iter().enumerate() {
        let want = &rows[index % rows.len()];
        let Prediction::Class { label, .. } = got else {
            panic!("{got:?}")
        };
        assert_eq!(label, want["label"].as_str().expect("label"), "row {index}");
    }
    let mut over = instances;
    over.push(breast_cancer_row());
    let message = input_error(json!({"model": "breast-cancer", "instances": over}));
    assert!(
        message.contains("`instances` holds 1001") && message.contains("limit of 1000"),
        "{message}"
    );
    assert!(message.contains("instances[1000]"), "{message}");
}

#[test]
fn bad_instances_name_the_index_and_the_feature() {
    let good = breast_cancer_row();
    let with = |feature: &str, value: Value| {
        let mut row = good.clone();
        row[feature] = value;
        json!({"model": "breast-cancer", "instances": [good, good, row]})
    };
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("mean_area");
    let cases = [
        (
            json!({"model": "breast-cancer", "instances": [good, missing]}),
            "instances[1]: feature `mean_area` is missing",
        ),
        (
            with("mean_area", json!("big")),
            "instances[2]: feature `mean_area` must be a number, not a string",
        ),
        (
            with("mean_area", json!(true)),
            "instances[2]: feature `mean_area` must be a number, not a boolean",
        ),
        (
            with("mean_area", Value::Null),
            "instances[2]: feature `mean_area` must be a number, not null",
        ),
        (
            with("mean_area", json!("NaN")),
            "instances[2]: feature `mean_area` is \"NaN\": NaN and infinity",
        ),
        (
            with("mean_area", json!("-Infinity")),
            "instances[2]: feature `mean_area` is \"-Infinity\"",
        ),
        (
            with("mean_area", json!(1e300)),
            "instances[2]: feature `mean_area` is 1e+300, infinite as the model's float32 input",
        ),
        (
            json!({"model": "breast-cancer", "instances": [[1.0, 2.0]]}),
            "instances[0]: array of 2 values; model breast-cancer takes 30",
        ),
        (
            json!({"model": "diabetes", "instances": [[0, 0, 0, "x", 0, 0, 0, 0, 0, 0]]}),
            "instances[0][3] (feature `bp`) must be a number, not a string",
        ),
        (
            json!({"model": "breast-cancer", "instances": ["row"]}),
            "instances[0] must be an object of features or an array of 30 values, not a string",
        ),
        (
            json!({"model": "breast-cancer"}),
            "input field `instances` is missing",
        ),
        (
            json!({"model": "breast-cancer", "instances": {}}),
            "input field `instances` must be an array",
        ),
        (json!({"instances": []}), "input field `model` is missing"),
        (
            json!({"model": 3, "instances": []}),
            "input field `model` must be a string",
        ),
        (
            json!({"model": "diabetes", "instances": [], "extra": 1}),
            "input field `extra` is not known",
        ),
        (json!([1, 2]), "input must be a JSON object"),
    ];
    for (input, want) in cases {
        let message = input_error(input.clone());
        assert!(
            message.contains(want),
            "{input}\n  got:  {message}\n  want: {want}"
        );
    }
}

#[test]
fn extra_features_are_ignored() {
    let good = breast_cancer_row();
    let mut extra = good.clone();
    extra["patient_id"] = json!("p-17");
    extra["mean_radius_typo"] = json!("not a number");
    let plain = predictor().predict(&json!({"model": "breast-cancer", "instances": [good]}));
    let padded = predictor().predict(&json!({"model": "breast-cancer", "instances": [extra]}));
    assert_eq!(plain.expect("plain"), padded.expect("with extra features"));
}

#[test]
fn an_empty_batch_predicts_nothing() {
    let reply = predictor().predict(&json!({"model": "diabetes", "instances": []}));
    assert_eq!(reply.expect("empty").predictions, vec![]);
}

#[test]
fn concurrent_calls_share_a_model() {
    let row = breast_cancer_row();
    let input = json!({"model": "breast-cancer/1.0.0", "instances": [row]});
    let first = predictor().predict(&input).expect("prediction");
    std::thread::scope(|scope| {
        let calls: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| predictor().predict(&input)))
            .collect();
        for call in calls {
            assert_eq!(call.join().expect("thread").expect("prediction"), first);
        }
    });
}

#[test]
fn metric_and_features_come_from_the_manifest() {
    let catalog = predictor().catalog();
    let ids: Vec<String> = catalog.models().map(|model| model.id()).collect();
    assert_eq!(
        ids,
        [
            "breast-cancer/1.0.0",
            "breast-cancer/1.1.0",
            "diabetes/1.0.0"
        ]
    );
    for model in catalog.models() {
        let metric = model.manifest.metric.as_ref().expect("metric");
        assert!(metric.value > 0.4, "{}: {metric:?}", model.id());
    }
    assert!(catalog.skipped().is_empty(), "{:?}", catalog.skipped());
}

#[test]
fn a_missing_runtime_says_what_to_install() {
    let error = Runtime::load(Path::new("/nonexistent/libonnxruntime.so"))
        .err()
        .expect("an error");
    assert!(matches!(error, SetupError::RuntimeMissing { .. }));
    let message = error.to_string();
    assert!(
        message.contains("make models") && message.contains("ORT_DYLIB_PATH"),
        "{message}"
    );
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        assert_eq!(
            library_path(Path::new("m")),
            Path::new("m/onnxruntime/libonnxruntime.so")
        );
    }
}

#[test]
fn a_broken_model_is_skipped_and_named() {
    let root = scratch_dir("broken");
    let good = models_dir().join("predict/diabetes/1.0.0");
    let copy = root.join("predict/diabetes/1.0.0");
    std::fs::create_dir_all(&copy).expect("mkdir");
    for file in ["manifest.json", "model.onnx"] {
        std::fs::copy(good.join(file), copy.join(file)).expect("copy");
    }
    let broken = root.join("predict/broken/1.0.0");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("manifest.json"), r#"{"name": "broken"}"#).expect("write");

    let runtime = predictor().runtime();
    let catalog = algo_predict::Catalog::load(&root, runtime).expect("catalog");
    assert_eq!(catalog.models().count(), 1);
    assert_eq!(catalog.skipped().len(), 1);
    let message = match catalog.resolve("broken") {
        Err(PredictError::Failed(message)) => message,
        other => panic!("{:?}", other.map(|model| model.id())),
    };
    assert!(
        message.contains("\"broken\" is installed but did not load"),
        "{message}"
    );
    assert!(
        message.contains("broken/1.0.0/manifest.json: missing field"),
        "{message}"
    );

    let missing = algo_predict::Catalog::load(&root.join("nothing"), runtime)
        .err()
        .expect("error");
    assert!(missing.to_string().contains("make models"), "{missing}");
    std::fs::remove_dir_all(&root).expect("clean up");
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("algo-predict-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
