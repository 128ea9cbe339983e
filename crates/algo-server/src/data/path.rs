//! `data://` paths: parsed, sanitised and resolved to their owner before any storage sees
//! them. Every segment that reaches a backend is a plain name: no `.`/`..`, no separators,
//! no control characters.

use std::fmt;

/// The user a call acts for: from its API key (`USER:KEY`), `default` for a bare key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
}

/// The collection algorithms write temporary outputs to (`data://.algo/...`).
pub const ALGO_COLLECTION: &str = ".algo";

/// A sanitised place in the Data API: a user's root, a collection, or something in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPath {
    pub owner: String,
    /// The collection (first level under the owner); `None` for the owner's root.
    pub collection: Option<String>,
    /// Segments under the collection.
    pub rest: Vec<String>,
}

/// Why a `data://` path was refused (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(
        "data path {0:?} is empty: give data://.my/<collection>/<name> or data://<user>/<collection>/<name>"
    )]
    Empty(String),
    #[error(
        "data path {path:?} has a forbidden segment {segment:?}: segments may not be empty, `.` or `..`, hold `\\` or control characters, or be longer than 255 bytes"
    )]
    Segment { path: String, segment: String },
    #[error(
        "data path {0:?} names no user: start it with data://.my/ (your own space), data://.algo/ (temporary outputs) or data://<user>/"
    )]
    Owner(String),
    #[error(
        "collection name {0:?} may not start with `.` (only the special collections .my and .algo do)"
    )]
    Collection(String),
}

impl DataPath {
    /// Parses `text` (with or without `data://`, as the URL path after `/v1/data/` or an
    /// algorithm's input) for `caller`: `.my` is the caller's space, `.algo` the caller's
    /// temporary collection.
    pub fn parse(text: &str, caller: &Caller) -> Result<Self, PathError> {
        let bare = text.strip_prefix("data://").unwrap_or(text);
        let bare = bare.strip_prefix('/').unwrap_or(bare);
        let bare = bare.strip_suffix('/').unwrap_or(bare);
        if bare.is_empty() {
            return Err(PathError::Empty(text.to_owned()));
        }
        let mut segments = Vec::new();
        for segment in bare.split('/') {
            if !valid_segment(segment) {
                return Err(PathError::Segment {
                    path: text.to_owned(),
                    segment: segment.to_owned(),
                });
            }
            segments.push(segment.to_owned());
        }
        let mut segments = segments.into_iter();
        let first = segments.next().unwrap_or_default();
        let (owner, collection) = match first.as_str() {
            ".my" => (caller.user.clone(), segments.next()),
            ".algo" => (caller.user.clone(), Some(ALGO_COLLECTION.to_owned())),
            user if valid_user(user) => (user.to_owned(), segments.next()),
            _ => return Err(PathError::Owner(text.to_owned())),
        };
        if let Some(name) = &collection
            && name.starts_with('.')
            && name != ALGO_COLLECTION
        {
            return Err(PathError::Collection(name.clone()));
        }
        Ok(Self {
            owner,
            collection,
            rest: segments.collect(),
        })
    }

    /// The path one level down.
    pub fn child(&self, name: &str) -> Result<Self, PathError> {
        if !valid_segment(name) {
            return Err(PathError::Segment {
                path: format!("{self}/{name}"),
                segment: name.to_owned(),
            });
        }
        let mut child = self.clone();
        match &self.collection {
            None if name.starts_with('.') => return Err(PathError::Collection(name.to_owned())),
            None => child.collection = Some(name.to_owned()),
            Some(_) => child.rest.push(name.to_owned()),
        }
        Ok(child)
    }

    /// Segments under the storage root: owner, collection, rest.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.owner.as_str())
            .chain(self.collection.as_deref())
            .chain(self.rest.iter().map(String::as_str))
    }

    pub fn is_root(&self) -> bool {
        self.collection.is_none()
    }

    pub fn is_collection(&self) -> bool {
        self.collection.is_some() && self.rest.is_empty()
    }
}

impl fmt::Display for DataPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("data://")?;
        let segments: Vec<&str> = self.segments().collect();
        f.write_str(&segments.join("/"))
    }
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.len() <= 255
        && !segment
            .chars()
            .any(|c| c == '\\' || c == '/' || c.is_control())
}

/// User names: letters, digits, `_` and `-` (what `USER:KEY` may give).
pub fn valid_user(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Caller {
        Caller {
            user: "alice".into(),
        }
    }

    #[test]
    fn special_collections_resolve_to_the_caller() {
        let path = DataPath::parse("data://.my/photos/a.jpg", &alice()).expect("valid");
        assert_eq!(path.to_string(), "data://alice/photos/a.jpg");
        let path = DataPath::parse("data://.algo/temp/x.png", &alice()).expect("valid");
        assert_eq!(path.to_string(), "data://alice/.algo/temp/x.png");
        let path = DataPath::parse("bob/shared/", &alice()).expect("valid");
        assert_eq!((path.owner.as_str(), path.is_collection()), ("bob", true));
        assert!(DataPath::parse(".my", &alice()).expect("root").is_root());
    }

    #[test]
    fn hostile_paths_are_refused() {
        for hostile in [
            "",
            "data://",
            ".my/../bob/x",
            ".my/a/../../etc/passwd",
            ".my/./x",
            ".my//x",
            "../etc/passwd",
            "/etc/passwd/x/..",
            ".my/a\\..\\b",
            ".my/a/b\0c",
            ".my/a/\nb",
            "bad user/x",
            "../x",
            ".my/.hidden/x",
            ".session/x",
        ] {
            assert!(
                DataPath::parse(hostile, &alice()).is_err(),
                "{hostile:?} accepted"
            );
        }
        let long = format!(".my/c/{}", "a".repeat(256));
        assert!(DataPath::parse(&long, &alice()).is_err());
        let root = DataPath::parse(".my", &alice()).expect("root");
        assert!(root.child("..").is_err() && root.child(".x").is_err());
    }
}
