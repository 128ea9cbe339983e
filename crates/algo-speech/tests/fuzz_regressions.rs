//! Inputs that the cargo-fuzz target `fuzz/fuzz_targets/media_decode.rs` found crashing,
//! kept as regression tests: every file under `tests/fuzz_regressions/media_decode/`
//! goes through the same entry point with the same limits and must decode or be refused
//! cleanly (no panic), and decoded samples must be finite.

use std::path::Path;

use algo_speech::{DecodeLimits, decode};

/// The files of `tests/fuzz_regressions/<target>/`, by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn media_decode_regressions_decode_or_are_refused_cleanly() {
    let limits = DecodeLimits {
        max_seconds: 20.0,
        max_samples_per_byte: 64.0,
    };
    let inputs = inputs("media_decode");
    assert!(!inputs.is_empty());
    for (name, media) in inputs {
        match decode(&media, limits) {
            Ok(audio) => {
                assert!(audio.duration <= limits.max_seconds, "{name}");
                assert!(
                    audio.samples.iter().all(|s| s.is_finite()),
                    "{name}: samples not finite"
                );
            }
            Err(error) => assert!(error.is_input_fault(), "{name}: {error}"),
        }
    }
}
