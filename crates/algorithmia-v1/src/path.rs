use std::fmt;
use std::str::FromStr;

/// A semantic version `major.minor.patch` of a published algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Which version of an algorithm a call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    /// No version: the latest published one.
    Latest,
    /// `latestPrivate`: the latest build, published or not.
    LatestPrivate,
    Exact(Version),
    /// `1.2.*`
    Minor(u64, u64),
    /// `1.*`
    Major(u64),
    /// A git commit hash of an unpublished build.
    Hash(String),
}

impl VersionSpec {
    /// Whether a published `version` satisfies this spec (hashes match nothing published).
    pub fn matches(&self, version: &Version) -> bool {
        match self {
            VersionSpec::Latest | VersionSpec::LatestPrivate => true,
            VersionSpec::Exact(v) => v == version,
            VersionSpec::Minor(major, minor) => version.major == *major && version.minor == *minor,
            VersionSpec::Major(major) => version.major == *major,
            VersionSpec::Hash(_) => false,
        }
    }

    /// The newest of `versions` this spec accepts.
    pub fn resolve<'a>(&self, versions: impl IntoIterator<Item = &'a Version>) -> Option<Version> {
        versions
            .into_iter()
            .filter(|v| self.matches(v))
            .max()
            .copied()
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSpec::Latest => Ok(()),
            VersionSpec::LatestPrivate => f.write_str("latestPrivate"),
            VersionSpec::Exact(v) => v.fmt(f),
            VersionSpec::Minor(major, minor) => write!(f, "{major}.{minor}.*"),
            VersionSpec::Major(major) => write!(f, "{major}.*"),
            VersionSpec::Hash(hash) => f.write_str(hash),
        }
    }
}

impl FromStr for VersionSpec {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Self, PathError> {
        let bad = || PathError::Version(text.to_owned());
        if text == "latestPrivate" {
            return Ok(VersionSpec::LatestPrivate);
        }
        let number = |part: &str| part.parse::<u64>().map_err(|_| bad());
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            [major, "*"] => Ok(VersionSpec::Major(number(major)?)),
            // `1.2` means `1.2.*`, as Algorithmia's clients and docs use it.
            [major, minor] => Ok(VersionSpec::Minor(number(major)?, number(minor)?)),
            [major, minor, "*"] => Ok(VersionSpec::Minor(number(major)?, number(minor)?)),
            [major, minor, patch] => Ok(VersionSpec::Exact(Version::new(
                number(major)?,
                number(minor)?,
                number(patch)?,
            ))),
            [hash]
                if (7..=40).contains(&hash.len())
                    && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Ok(VersionSpec::Hash(hash.to_ascii_lowercase()))
            }
            _ => Err(bad()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(
        "algorithm path {0:?} is not of the form owner/name[/version] (for example \"blueprints/SmartThumbnail/1.0.0\")"
    )]
    Shape(String),
    #[error(
        "algorithm path segment {0:?} may only hold letters, digits, '_', '-' and '.', and must not be empty"
    )]
    Segment(String),
    #[error(
        "algorithm version {0:?} is not one of 1.2.3, 1.2.*, 1.2, 1.*, latestPrivate or a git hash"
    )]
    Version(String),
}

/// `owner/name[/version]`, the address of an algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgoPath {
    pub owner: String,
    pub name: String,
    pub version: VersionSpec,
}

impl AlgoPath {
    /// The URL path under the API base: `v1/algo/owner/name[/version]`.
    pub fn url_path(&self) -> String {
        match self.version {
            VersionSpec::Latest => format!("v1/algo/{}/{}", self.owner, self.name),
            ref version => format!("v1/algo/{}/{}/{version}", self.owner, self.name),
        }
    }

    fn segment(text: &str) -> Result<String, PathError> {
        let valid = !text.bytes().all(|b| b == b'.')
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if valid {
            Ok(text.to_owned())
        } else {
            Err(PathError::Segment(text.to_owned()))
        }
    }
}

impl fmt::Display for AlgoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            VersionSpec::Latest => write!(f, "{}/{}", self.owner, self.name),
            ref version => write!(f, "{}/{}/{version}", self.owner, self.name),
        }
    }
}

impl FromStr for AlgoPath {
    type Err = PathError;

    /// Accepts `owner/name`, `owner/name/version`, with an optional `algo://` prefix
    /// and leading `/`.
    fn from_str(text: &str) -> Result<Self, PathError> {
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix("algo://").unwrap_or(trimmed);
        let bare = bare.trim_start_matches('/');
        let parts: Vec<&str> = bare.split('/').collect();
        let (owner, name, version) = match parts.as_slice() {
            [owner, name] => (*owner, *name, VersionSpec::Latest),
            [owner, name, version] => (*owner, *name, version.parse()?),
            _ => return Err(PathError::Shape(text.to_owned())),
        };
        Ok(AlgoPath {
            owner: Self::segment(owner)?,
            name: Self::segment(name)?,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let p: AlgoPath = "algo://opencv/SmartThumbnail/1.2.3".parse().expect("valid");
        assert_eq!(p.owner, "opencv");
        assert_eq!(p.version, VersionSpec::Exact(Version::new(1, 2, 3)));
        assert_eq!(p.url_path(), "v1/algo/opencv/SmartThumbnail/1.2.3");

        let p: AlgoPath = "/a/b".parse().expect("valid");
        assert_eq!(
            (p.to_string(), p.url_path()),
            ("a/b".into(), "v1/algo/a/b".into())
        );
        for (text, spec) in [
            ("a/b/1.*", VersionSpec::Major(1)),
            ("a/b/1.2.*", VersionSpec::Minor(1, 2)),
            ("a/b/latestPrivate", VersionSpec::LatestPrivate),
            ("a/b/ABCDEF1", VersionSpec::Hash("abcdef1".into())),
        ] {
            let p: AlgoPath = text.parse().expect(text);
            assert_eq!(p.version, spec, "{text}");
            assert_eq!(p.to_string().to_lowercase(), text.to_lowercase());
        }
        let short: AlgoPath = "a/b/1.2".parse().expect("1.2");
        assert_eq!(short.version, VersionSpec::Minor(1, 2));
        assert_eq!(short.to_string(), "a/b/1.2.*");
        assert!("a/b/1.x".parse::<AlgoPath>().is_err());
    }

    #[test]
    fn rejects_malformed_paths() {
        for text in [
            "",
            "a",
            "a/",
            "/b",
            "a/b/c/d",
            "a b/c",
            "a/b/1.x",
            "a/b/1.2.3.4",
            "a/../b",
        ] {
            assert!(
                text.parse::<AlgoPath>().is_err(),
                "{text:?} should be rejected"
            );
        }
        let err = "justone".parse::<AlgoPath>().expect_err("rejected");
        assert!(err.to_string().contains("owner/name[/version]"));
    }

    #[test]
    fn version_specs_resolve_to_the_newest_match() {
        let published = [
            Version::new(1, 0, 0),
            Version::new(1, 2, 0),
            Version::new(2, 0, 1),
        ];
        let resolve = |s: &str| s.parse::<VersionSpec>().expect(s).resolve(&published);
        assert_eq!(resolve("1.*"), Some(Version::new(1, 2, 0)));
        assert_eq!(resolve("1.0.*"), Some(Version::new(1, 0, 0)));
        assert_eq!(resolve("2.0.1"), Some(Version::new(2, 0, 1)));
        assert_eq!(resolve("3.*"), None);
        assert_eq!(
            VersionSpec::Latest.resolve(&published),
            Some(Version::new(2, 0, 1))
        );
    }
}
