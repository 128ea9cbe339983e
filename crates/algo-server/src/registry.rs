//! The algorithms a server hosts, looked up by `owner/name` and version spec.

use std::collections::BTreeMap;
use std::sync::Arc;

use algorithmia_v1::{AlgoPath, Version, VersionSpec};
use serde::Serialize;

use crate::algorithm::Algorithm;

#[derive(Default, Clone)]
pub struct Registry {
    /// Keyed by lower-case `owner/name`: Algorithmia paths are case-insensitive.
    algorithms: BTreeMap<String, Arc<dyn Algorithm>>,
}

/// Why a path does not name a hosted algorithm (HTTP 404).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error(
        "No such algorithm {0}: it is not hosted on this server (GET /v1/algorithms lists what is)"
    )]
    Unknown(String),
    #[error("algorithm {path} has no version matching {spec}; versions hosted: {hosted}")]
    NoVersion {
        path: String,
        spec: String,
        hosted: String,
    },
}

/// One entry of `GET /v1/algorithms`.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub algorithm: String,
    pub versions: Vec<String>,
    pub input: &'static str,
    pub output: &'static str,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `algorithm`; a later one with the same `owner/name` replaces an earlier one.
    pub fn register(&mut self, algorithm: Arc<dyn Algorithm>) -> &mut Self {
        let key = key(algorithm.owner(), algorithm.name());
        self.algorithms.insert(key, algorithm);
        self
    }

    pub fn with(mut self, algorithm: impl Algorithm) -> Self {
        self.register(Arc::new(algorithm));
        self
    }

    /// The algorithm and the newest version `path` accepts.
    pub fn resolve(&self, path: &AlgoPath) -> Result<(Arc<dyn Algorithm>, Version), LookupError> {
        let full_name = format!("{}/{}", path.owner, path.name);
        let algorithm = self
            .algorithms
            .get(&key(&path.owner, &path.name))
            .ok_or_else(|| LookupError::Unknown(full_name.clone()))?;
        let versions = algorithm.versions();
        let no_version = || LookupError::NoVersion {
            path: full_name.clone(),
            spec: match &path.version {
                VersionSpec::Hash(hash) => format!("{hash} (builds by git hash are not hosted)"),
                spec => spec.to_string(),
            },
            hosted: versions
                .iter()
                .map(Version::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        let version = path.version.resolve(versions).ok_or_else(no_version)?;
        Ok((Arc::clone(algorithm), version))
    }

    pub fn listing(&self) -> Vec<Listing> {
        self.algorithms
            .values()
            .map(|algorithm| {
                let description = algorithm.description();
                Listing {
                    algorithm: format!("{}/{}", algorithm.owner(), algorithm.name()),
                    versions: algorithm
                        .versions()
                        .iter()
                        .map(Version::to_string)
                        .collect(),
                    input: description.input,
                    output: description.output,
                }
            })
            .collect()
    }
}

fn key(owner: &str, name: &str) -> String {
    format!("{owner}/{name}").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::echo::Echo;

    #[test]
    fn resolves_versions_and_explains_misses() {
        let registry = Registry::new().with(Echo);
        let path = |text: &str| text.parse::<AlgoPath>().expect(text);
        for found in [
            "blueprints/Echo",
            "blueprints/echo/1.*",
            "blueprints/Echo/1.0.*",
            "blueprints/Echo/1.0.0",
        ] {
            let (_, version) = registry.resolve(&path(found)).expect(found);
            assert_eq!(version, Version::new(1, 0, 0));
        }
        let missing = registry
            .resolve(&path("blueprints/Nope"))
            .err()
            .expect("unknown");
        assert!(missing.to_string().contains("blueprints/Nope"));
        let wrong = registry
            .resolve(&path("blueprints/Echo/2.*"))
            .err()
            .expect("no version");
        assert!(wrong.to_string().contains("2.*") && wrong.to_string().contains("1.0.0"));
    }
}
