//! The Data API on a local directory (`--data-dir`): files under `files/<user>/...`,
//! collection ACLs under `acl/<user>/<collection>.json`, uploads staged in `tmp/` and
//! renamed into place (a reader never sees half a file). No symbolic link is followed:
//! a path whose component is a link is refused, so a link planted in the tree cannot
//! lead outside it.

use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use super::path::DataPath;
use super::{Acl, DataError, Entry, Listed, Store, not_a_file, not_empty, not_found, under_a_file};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Nothing is created until the first write, so a read-only host still starts.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file system path of `path`, refusing any existing component that is a link.
    fn resolve(&self, path: &DataPath) -> Result<PathBuf, DataError> {
        let mut current = self.root.join("files");
        let mut exists = true;
        for segment in path.segments() {
            current.push(segment);
            if !exists {
                continue;
            }
            match std::fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(DataError::Forbidden(format!(
                        "{path}: a component is a symbolic link, which the Data API never follows"
                    )));
                }
                Ok(_) => {}
                Err(error) if error.kind() == IoKind::NotFound => exists = false,
                Err(error) => return Err(io_error(path, error)),
            }
        }
        Ok(current)
    }

    fn acl_file(&self, owner: &str, collection: &str) -> PathBuf {
        self.root
            .join("acl")
            .join(owner)
            .join(format!("{collection}.json"))
    }
}

impl Store for LocalStore {
    fn stat(&self, path: &DataPath) -> Result<Option<Entry>, DataError> {
        let target = self.resolve(path)?;
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => Ok(Some(Entry::Dir)),
            Ok(meta) if meta.is_file() => Ok(Some(Entry::File {
                size: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            })),
            Ok(_) => Ok(None),
            Err(error) if error.kind() == IoKind::NotFound => Ok(None),
            Err(error) => Err(io_error(path, error)),
        }
    }

    fn read(&self, path: &DataPath) -> Result<Bytes, DataError> {
        match self.stat(path)? {
            Some(Entry::File { .. }) => {}
            Some(Entry::Dir) => return Err(not_a_file(path)),
            None => return Err(not_found(path)),
        }
        let target = self.resolve(path)?;
        std::fs::read(target)
            .map(Bytes::from)
            .map_err(|error| io_error(path, error))
    }

    fn write(&self, path: &DataPath, body: Bytes) -> Result<(), DataError> {
        let target = self.resolve(path)?;
        let parent = target
            .parent()
            .ok_or_else(|| DataError::BadRequest(format!("{path} has no parent")))?;
        std::fs::create_dir_all(parent).map_err(|error| io_error(path, error))?;
        // Checked again after creating the parents: a link raced in is still refused.
        let target = self.resolve(path)?;
        let staging = self.root.join("tmp");
        std::fs::create_dir_all(&staging).map_err(|error| io_error(path, error))?;
        let temp = staging.join(format!(
            "{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        ));
        std::fs::write(&temp, &body).map_err(|error| io_error(path, error))?;
        std::fs::rename(&temp, &target).map_err(|error| {
            let _ = std::fs::remove_file(&temp);
            io_error(path, error)
        })
    }

    fn delete_file(&self, path: &DataPath) -> Result<(), DataError> {
        std::fs::remove_file(self.resolve(path)?).map_err(|error| io_error(path, error))
    }

    fn create_dir(&self, path: &DataPath) -> Result<(), DataError> {
        let target = self.resolve(path)?;
        std::fs::create_dir_all(&target).map_err(|error| io_error(path, error))
    }

    /// Links are left out.
    fn list(&self, path: &DataPath) -> Result<Vec<Listed>, DataError> {
        let target = self.resolve(path)?;
        let mut listed = Vec::new();
        for entry in std::fs::read_dir(&target).map_err(|error| io_error(path, error))? {
            let entry = entry.map_err(|error| io_error(path, error))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                listed.push(Listed {
                    name,
                    entry: Entry::Dir,
                });
            } else if meta.is_file() {
                listed.push(Listed {
                    name,
                    entry: Entry::File {
                        size: meta.len(),
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    },
                });
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    fn delete_dir(&self, path: &DataPath, force: bool) -> Result<u64, DataError> {
        let target = self.resolve(path)?;
        let files = count_files(&target);
        let empty = std::fs::read_dir(&target)
            .map_err(|error| io_error(path, error))?
            .next()
            .is_none();
        if !empty && !force {
            return Err(not_empty(path));
        }
        // remove_dir_all removes links themselves, never what they point to.
        std::fs::remove_dir_all(&target).map_err(|error| io_error(path, error))?;
        if path.is_collection()
            && let (owner, Some(collection)) = (&path.owner, &path.collection)
        {
            let _ = std::fs::remove_file(self.acl_file(owner, collection));
        }
        Ok(files)
    }

    fn acl(&self, owner: &str, collection: &str) -> Result<Option<Acl>, DataError> {
        match std::fs::read(self.acl_file(owner, collection)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| DataError::Internal(format!("stored ACL is corrupt: {error}"))),
            Err(error) if error.kind() == IoKind::NotFound => Ok(None),
            Err(error) => Err(DataError::Internal(format!("cannot read an ACL: {error}"))),
        }
    }

    fn set_acl(&self, owner: &str, collection: &str, acl: &Acl) -> Result<(), DataError> {
        let file = self.acl_file(owner, collection);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| DataError::Internal(format!("cannot store an ACL: {error}")))?;
        }
        let json = serde_json::to_vec(acl)
            .map_err(|error| DataError::Internal(format!("cannot store an ACL: {error}")))?;
        std::fs::write(file, json)
            .map_err(|error| DataError::Internal(format!("cannot store an ACL: {error}")))
    }
}

fn count_files(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => count_files(&entry.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// An I/O failure, without the server's own file system path in the message.
fn io_error(path: &DataPath, error: std::io::Error) -> DataError {
    match error.kind() {
        IoKind::NotFound => not_found(path),
        IoKind::AlreadyExists => DataError::Conflict(format!("{path} already exists")),
        IoKind::NotADirectory => under_a_file(path),
        kind => DataError::Internal(format!("{path}: storage error ({kind})")),
    }
}
