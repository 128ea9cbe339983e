//! Copies the face-detection model that ships inside the `rustface` crate into OUT_DIR,
//! so the binary embeds it and needs no download. Set RUSTFACE_MODEL to use another file.

use std::env;
use std::path::{Path, PathBuf};

const MODEL: &str = "seeta_fd_frontal_v1.0.bin";
const RUSTFACE_DIR: &str = "rustface-0.1.7";

fn main() {
    println!("cargo:rerun-if-env-changed=RUSTFACE_MODEL");
    println!("cargo:rerun-if-changed=build.rs");
    let found = model_candidates().into_iter().find(|path| path.is_file());
    let Some(model) = found else {
        panic!(
            "cannot find {MODEL} from the {RUSTFACE_DIR} crate source; run `cargo fetch`, or set \
             RUSTFACE_MODEL=/path/to/{MODEL}"
        );
    };
    let out_dir = env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .expect("cargo sets OUT_DIR");
    std::fs::copy(&model, out_dir.join(MODEL))
        .unwrap_or_else(|error| panic!("cannot copy {}: {error}", model.display()));
    println!("cargo:rerun-if-changed={}", model.display());
}

fn model_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = env::var_os("RUSTFACE_MODEL") {
        candidates.push(PathBuf::from(path));
    }
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    if let Some(home) = cargo_home {
        // registry/src/<index>/rustface-0.1.7/model/...
        if let Ok(indexes) = std::fs::read_dir(home.join("registry").join("src")) {
            for index in indexes.flatten() {
                candidates.push(index.path().join(RUSTFACE_DIR).join("model").join(MODEL));
            }
        }
    }
    // `cargo vendor` layouts.
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    for vendor in ["../../vendor", "vendor"] {
        candidates.push(
            manifest_dir
                .join(vendor)
                .join("rustface")
                .join("model")
                .join(MODEL),
        );
    }
    candidates
}
