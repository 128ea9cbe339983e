//! The Whisper model: a ggml file loaded once and shared by every call.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use whisper_rs::{WhisperContext, WhisperContextParameters};

/// Why the model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "the Whisper model file {0} does not exist: run `make models` to build the default \
         models/ggml-tiny.en.bin, or point --whisper-model (WHISPER_MODEL) at a ggml Whisper model"
    )]
    Missing(PathBuf),
    #[error(
        "whisper.cpp could not load {path} as a ggml Whisper model ({detail}); rebuild it with \
         `make models` or download a ggml-*.bin Whisper model"
    )]
    Invalid { path: PathBuf, detail: String },
}

/// A loaded ggml Whisper model. Cheap to clone: clones share the weights.
#[derive(Clone)]
pub struct WhisperModel {
    context: Arc<WhisperContext>,
    path: Arc<Path>,
    english_only: bool,
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperModel")
            .field("path", &self.path)
            .field("english_only", &self.english_only)
            .finish()
    }
}

impl WhisperModel {
    /// Loads the model at `path` (CPU only). Takes about a second for tiny, longer for
    /// larger models: do it once at start-up.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        route_whisper_logs();
        if !path.is_file() {
            return Err(ModelError::Missing(path.to_path_buf()));
        }
        let mut params = WhisperContextParameters::default();
        // ggml's flash attention ran 1.3x slower on CPU (65 s clip, 2 threads).
        params.use_gpu(false).flash_attn(false);
        let context =
            WhisperContext::new_with_params(path, params).map_err(|error| ModelError::Invalid {
                path: path.to_path_buf(),
                detail: error.to_string(),
            })?;
        let english_only = !context.is_multilingual();
        tracing::info!(path = %path.display(), english_only, "Whisper model loaded");
        Ok(Self {
            context: Arc::new(context),
            path: Arc::from(path),
            english_only,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the model only knows English (`*.en` models).
    pub fn is_english_only(&self) -> bool {
        self.english_only
    }

    pub(crate) fn context(&self) -> &WhisperContext {
        &self.context
    }
}

/// Sends whisper.cpp's and ggml's log lines to `tracing` instead of stderr.
fn route_whisper_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(whisper_rs::install_logging_hooks);
}
