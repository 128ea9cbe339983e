//! Predict's input validation on arbitrary JSON: the request shape (`Request::parse`,
//! `describe_request`), the model reference (`Catalog::resolve`, version specs), and the
//! per-feature checks that lay instances out for ONNX Runtime (`validate::batch`, with
//! float, integer and boolean features at float32 and float64 precision). Also reads the
//! input as a model manifest, as `make models` writes them. No ONNX Runtime is needed.
#![no_main]

use std::sync::OnceLock;

use algo_predict::session::Precision;
use algo_predict::validate::{Request, batch, describe_request};
use algo_predict::{Catalog, FeatureType, Manifest, PredictError};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const MAX_BATCH: usize = 64;

fn manifests() -> &'static [Manifest] {
    static MANIFESTS: OnceLock<Vec<Manifest>> = OnceLock::new();
    MANIFESTS.get_or_init(|| {
        [
            json!({"name": "toy", "version": "1.0.0", "kind": "regressor",
                   "features": [{"name": "x", "type": "float"}, {"name": "n", "type": "integer"},
                                {"name": "on", "type": "boolean"}]}),
            json!({"name": "breast-cancer", "version": "1.1.0", "kind": "classifier",
                   "features": [{"name": "mean_radius"}, {"name": "mean_texture", "type": "double"}],
                   "labels": ["malignant", "benign"]}),
        ]
        .into_iter()
        .map(|value| serde_json::from_value(value).expect("manifest"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match Request::parse(&value) {
        Ok(request) => {
            assert!(!request.model.trim().is_empty());
            // No model is loaded: every reference is an input error naming the field.
            match Catalog::default().resolve(request.model) {
                Err(PredictError::Input(message)) => assert!(message.contains("`model`")),
                Err(other) => panic!("not an input error: {other}"),
                Ok(_) => panic!("an empty catalog resolved {:?}", request.model),
            }
            for manifest in manifests() {
                for precision in [Precision::F32, Precision::F64] {
                    check_batch(request.instances, manifest, precision);
                }
            }
        }
        Err(error) => assert!(error.is_input(), "{error}"),
    }
    if let Some(Err(error)) = describe_request(&value) {
        assert!(error.is_input());
    }
    if let Ok(manifest) = serde_json::from_value::<Manifest>(value) {
        let _ = manifest.semver();
        let _ = manifest.onnx.file();
    }
});

fn check_batch(instances: &[Value], manifest: &Manifest, precision: Precision) {
    match batch(instances, manifest, precision, MAX_BATCH) {
        Ok(laid_out) => {
            let width = manifest.features.len();
            assert_eq!(laid_out.rows, instances.len());
            assert!(laid_out.rows <= MAX_BATCH);
            assert_eq!(laid_out.values.len(), laid_out.rows * width);
            for (index, value) in laid_out.values.iter().enumerate() {
                assert!(value.is_finite(), "{value}");
                if precision == Precision::F32 {
                    assert!(value.abs() <= f64::from(f32::MAX), "{value} overflows f32");
                }
                match manifest.features[index % width].kind {
                    FeatureType::Integer => assert_eq!(value.fract(), 0.0),
                    FeatureType::Boolean => assert!(*value == 0.0 || *value == 1.0),
                    FeatureType::Float => {}
                }
            }
        }
        Err(error) => assert!(error.is_input(), "{error}"),
    }
}
