//! The models found under `<models dir>/predict/<name>/<version>/`, and which one a
//! `name[/version]` reference means.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use algorithmia_v1::{Version, VersionSpec};

use crate::error::{PredictError, SetupError};
use crate::manifest::Manifest;
use crate::runtime::Runtime;
use crate::session::ModelSession;

/// The sub-directory of the models directory that holds prediction models.
pub const PREDICT_DIR: &str = "predict";

/// One servable model version.
pub struct Model {
    pub manifest: Manifest,
    pub version: Version,
    pub dir: PathBuf,
    pub session: ModelSession,
}

impl Model {
    /// `name/version`, as replies name it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.manifest.name, self.version)
    }

    fn open(dir: &Path, runtime: &Runtime) -> Result<Model, SetupError> {
        let problem = |path: PathBuf| move |reason: String| SetupError::Model { path, reason };
        let manifest_path = dir.join("manifest.json");
        let manifest = Manifest::read(&manifest_path).map_err(problem(manifest_path.clone()))?;
        let version = manifest.semver().map_err(problem(manifest_path.clone()))?;
        let named = dir.ends_with(Path::new(&manifest.name).join(version.to_string()));
        if !named {
            return Err(problem(manifest_path)(format!(
                "name {:?} and version {:?} must match the directory predict/<name>/<version>",
                manifest.name, manifest.version
            )));
        }
        let graph_path = dir.join(manifest.onnx.file());
        let graph = std::fs::read(&graph_path)
            .map_err(|error| problem(graph_path.clone())(error.to_string()))?;
        let session = ModelSession::open(runtime, graph, &manifest).map_err(problem(graph_path))?;
        Ok(Model {
            manifest,
            version,
            dir: dir.to_path_buf(),
            session,
        })
    }
}

/// Every model version that loaded, by name then version.
#[derive(Default)]
pub struct Catalog {
    models: BTreeMap<String, BTreeMap<Version, Arc<Model>>>,
    /// Model directories that did not load, with why: a bad model never hides the others.
    skipped: Vec<SetupError>,
}

impl Catalog {
    /// Loads `<models_dir>/predict/*/*/`. Fails only when `predict/` is missing; a model
    /// that does not load is listed in [`Catalog::skipped`] (for the caller to log).
    pub fn load(models_dir: &Path, runtime: &Runtime) -> Result<Catalog, SetupError> {
        let root = models_dir.join(PREDICT_DIR);
        let missing = || SetupError::ModelsMissing {
            path: models_dir.to_path_buf(),
        };
        let mut catalog = Catalog::default();
        for name_dir in subdirectories(&root).map_err(|_| missing())? {
            let version_dirs = subdirectories(&name_dir).unwrap_or_default();
            for dir in version_dirs {
                match Model::open(&dir, runtime) {
                    Ok(model) => catalog.add(model),
                    Err(error) => catalog.skipped.push(error),
                }
            }
        }
        Ok(catalog)
    }

    fn add(&mut self, model: Model) {
        self.models
            .entry(model.manifest.name.clone())
            .or_default()
            .insert(model.version, Arc::new(model));
    }

    /// Every loaded model, by name then version.
    pub fn models(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.models.values().flat_map(BTreeMap::values)
    }

    pub fn skipped(&self) -> &[SetupError] {
        &self.skipped
    }

    /// The model a `name[/version]` reference means: the newest version matching
    /// `1.2.3`, `1.2.*`, `1.*`, or none (latest).
    pub fn resolve(&self, reference: &str) -> Result<&Arc<Model>, PredictError> {
        let bad = |message: String| PredictError::Input(format!("input field `model`: {message}"));
        let (name, spec) = match reference.split_once('/') {
            None => (reference, VersionSpec::Latest),
            Some((name, version)) => match version.parse::<VersionSpec>() {
                Ok(VersionSpec::Hash(_)) | Err(_) => {
                    return Err(bad(format!(
                        "version {version:?} of `{reference}` is not 1.2.3, 1.2.* or 1.*"
                    )));
                }
                Ok(spec) => (name, spec),
            },
        };
        let Some(versions) = self.models.get(name) else {
            if let Some(error) = self.skipped_model(name) {
                return Err(PredictError::Failed(format!(
                    "model {name:?} is installed but did not load: {error}"
                )));
            }
            return Err(bad(format!(
                "no model named {name:?}; served: {}",
                self.served()
            )));
        };
        spec.resolve(versions.keys())
            .and_then(|version| versions.get(&version))
            .ok_or_else(|| {
                let known: Vec<String> = versions.keys().map(Version::to_string).collect();
                bad(format!(
                    "model {name:?} has no version matching `{spec}`; versions: {}",
                    known.join(", ")
                ))
            })
    }

    /// `breast-cancer 1.0.0, 1.1.0; diabetes 1.0.0`
    pub fn served(&self) -> String {
        if self.models.is_empty() {
            return "none (run `make models`)".into();
        }
        let names: Vec<String> = self
            .models
            .iter()
            .map(|(name, versions)| {
                let versions: Vec<String> = versions.keys().map(Version::to_string).collect();
                format!("{name} {}", versions.join(", "))
            })
            .collect();
        names.join("; ")
    }

    /// Why the model directory `predict/<name>/...` did not load, if it did not.
    fn skipped_model(&self, name: &str) -> Option<&SetupError> {
        self.skipped.iter().find(|error| {
            matches!(error, SetupError::Model { path, .. }
                if path.iter().any(|part| part == std::ffi::OsStr::new(name)))
        })
    }
}

/// The sub-directories of `dir`, sorted.
fn subdirectories(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}
