//! Finding and loading the ONNX Runtime shared library (`ort` with `load-dynamic`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;

use crate::error::SetupError;

/// Names a `libonnxruntime.so` to use instead of the one under the models directory.
pub const LIBRARY_ENV: &str = "ORT_DYLIB_PATH";

/// Where `make models` puts the library, relative to the models directory.
pub const LIBRARY_IN_MODELS_DIR: &str = "onnxruntime/libonnxruntime.so";

/// The library to load: `ORT_DYLIB_PATH` when set, else the one `make models` installs
/// under `models_dir`.
pub fn library_path(models_dir: &Path) -> PathBuf {
    match std::env::var_os(LIBRARY_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => models_dir.join(LIBRARY_IN_MODELS_DIR),
    }
}

/// A loaded ONNX Runtime: the environment every session is built in.
#[derive(Clone)]
pub struct Runtime {
    environment: Environment,
    library: PathBuf,
}

impl Runtime {
    /// Loads the library at `library`. The process keeps the first library it loads
    /// (ONNX Runtime allows one environment per process): a later call naming an
    /// existing file shares it, so Predict and the face detector run on one runtime.
    pub fn load(library: &Path) -> Result<Runtime, SetupError> {
        static LOADED: Mutex<Option<Runtime>> = Mutex::new(None);
        if !library.is_file() {
            return Err(SetupError::RuntimeMissing {
                path: library.to_path_buf(),
            });
        }
        let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(runtime) = loaded.as_ref() {
            return Ok(runtime.clone());
        }
        let runtime = Self::load_first(library)?;
        *loaded = Some(runtime.clone());
        Ok(runtime)
    }

    fn load_first(library: &Path) -> Result<Runtime, SetupError> {
        let unusable = |reason: String| SetupError::RuntimeUnusable {
            path: library.to_path_buf(),
            reason,
        };
        let environment = ort::init_from(library)
            .map_err(|error| unusable(error.to_string()))?
            .with_name("algo-predict")
            .with_telemetry(false)
            .build()
            .map_err(|error| unusable(error.to_string()))?;
        Ok(Runtime {
            environment,
            library: library.to_path_buf(),
        })
    }

    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    pub fn library(&self) -> &Path {
        &self.library
    }
}
