//! The Algorithmia Data API (`/v1/data/...`, `data://` URIs): files and directories in
//! per-user spaces, on a storage backend chosen at start. Who may do what is decided
//! here, once, for the HTTP routes and for algorithms reading and writing `data://` URIs.

pub mod local;
pub mod path;
pub mod routes;
pub mod s3;

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use path::{Caller, DataPath, PathError};

use local::LocalStore;
use s3::S3Store;

/// The Data API's flags, flattened into [`crate::Config`].
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Directory the Data API stores files in (`data://` URIs); created on first write.
    /// Not used when --data-s3-bucket is given.
    #[arg(long, env = "ALGO_SERVER_DATA_DIR", default_value = "algo-server-data")]
    pub data_dir: PathBuf,

    /// S3 bucket the Data API stores files in instead of --data-dir, through the AWS SDK
    /// (credentials, region and endpoint from the usual AWS environment); checked at start.
    #[arg(long, env = "ALGO_SERVER_DATA_S3_BUCKET")]
    pub data_s3_bucket: Option<String>,

    /// Key prefix under which the Data API's objects go in --data-s3-bucket (e.g. `data/`).
    #[arg(
        long,
        env = "ALGO_SERVER_DATA_S3_PREFIX",
        default_value = "",
        requires = "data_s3_bucket"
    )]
    pub data_s3_prefix: String,

    /// Most entries one directory listing returns; clients follow its `marker`.
    #[arg(long, env = "ALGO_SERVER_DATA_PAGE_SIZE", default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub data_page_size: usize,
}

/// A file or directory as storage sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { size: u64, modified: SystemTime },
    Dir,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub entry: Entry,
}

/// A collection's access list, as the clients send it: `{"read": ["user://*"]}` (public),
/// `{"read": ["algo://.my/*"]}` (the owner's algorithms, the default) or `{"read": []}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    #[serde(default)]
    pub read: Vec<String>,
}

pub const ACL_PUBLIC: &str = "user://*";
pub const ACL_MY_ALGOS: &str = "algo://.my/*";

impl Default for Acl {
    fn default() -> Self {
        Self {
            read: vec![ACL_MY_ALGOS.to_owned()],
        }
    }
}

impl Acl {
    /// Refuses entries the server does not know, naming the accepted ones.
    pub fn checked(self) -> Result<Self, DataError> {
        match self
            .read
            .iter()
            .find(|entry| *entry != ACL_PUBLIC && *entry != ACL_MY_ALGOS)
        {
            Some(unknown) => Err(DataError::BadRequest(format!(
                "acl.read entry {unknown:?} is not one of \"{ACL_PUBLIC}\" (public) or \"{ACL_MY_ALGOS}\" (your algorithms); [] is private"
            ))),
            None => Ok(self),
        }
    }

    pub fn is_public(&self) -> bool {
        self.read.iter().any(|entry| entry == ACL_PUBLIC)
    }
}

/// Why a Data API operation failed; each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
}

impl DataError {
    /// Whether the caller is at fault (a retry with the same input cannot help).
    pub fn is_caller_fault(&self) -> bool {
        !matches!(self, DataError::Internal(_))
    }
}

/// What a caller wants to do, for [`Data::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A storage backend: plain names in, entries out. Paths reach it sanitised and
/// authorized; it decides only what exists. Calls block (the Data API runs them off the
/// async workers).
pub trait Store: Send + Sync {
    fn stat(&self, path: &DataPath) -> Result<Option<Entry>, DataError>;
    fn read(&self, path: &DataPath) -> Result<Bytes, DataError>;
    /// Writes a file whole, creating its parent directories; readers never see half of
    /// it. `path` is not a directory ([`Data`] checked).
    fn write(&self, path: &DataPath, body: Bytes) -> Result<(), DataError>;
    /// Deletes the file at `path` ([`Data`] checked it is one).
    fn delete_file(&self, path: &DataPath) -> Result<(), DataError>;
    /// Creates the directory `path` ([`Data`] checked nothing is there).
    fn create_dir(&self, path: &DataPath) -> Result<(), DataError>;
    /// The entries of the directory `path` ([`Data`] checked it is one), sorted by name.
    fn list(&self, path: &DataPath) -> Result<Vec<Listed>, DataError>;
    /// Deletes the directory `path` ([`Data`] checked it is one): only an empty one
    /// unless `force` ([`not_empty`] otherwise). Returns the files deleted.
    fn delete_dir(&self, path: &DataPath, force: bool) -> Result<u64, DataError>;
    fn acl(&self, owner: &str, collection: &str) -> Result<Option<Acl>, DataError>;
    fn set_acl(&self, owner: &str, collection: &str, acl: &Acl) -> Result<(), DataError>;
}

/// The Data API over one backend.
pub struct Data {
    store: Box<dyn Store>,
    pub page_size: usize,
}

impl Data {
    /// The backend `args` choose: an S3 bucket (checked reachable now, so that a wrong
    /// name or missing permission stops the start, not a later call) or a directory.
    pub async fn open(args: &DataArgs) -> Result<Self, String> {
        let store: Box<dyn Store> = match &args.data_s3_bucket {
            Some(bucket) => Box::new(S3Store::open(bucket, &args.data_s3_prefix).await?),
            None => Box::new(LocalStore::new(args.data_dir.clone())),
        };
        Ok(Self {
            store,
            page_size: args.data_page_size,
        })
    }

    /// The owner may do anything in their space; anyone else may only read, and only
    /// in a collection whose ACL is public. `.algo` is never shared.
    pub fn authorize(
        &self,
        caller: &Caller,
        path: &DataPath,
        access: Access,
    ) -> Result<(), DataError> {
        if caller.user == path.owner {
            return Ok(());
        }
        let refused = || {
            DataError::Forbidden(format!(
                "{path} belongs to another user and is not readable by you: only a collection whose ACL is public (read: [\"{ACL_PUBLIC}\"]) is shared, and only for reading"
            ))
        };
        let Some(collection) = &path.collection else {
            return Err(refused());
        };
        if access == Access::Write || collection == path::ALGO_COLLECTION {
            return Err(refused());
        }
        match self.store.acl(&path.owner, collection)? {
            Some(acl) if acl.is_public() => Ok(()),
            _ => Err(refused()),
        }
    }

    pub fn stat(&self, caller: &Caller, path: &DataPath) -> Result<Option<Entry>, DataError> {
        self.authorize(caller, path, Access::Read)?;
        self.store.stat(path)
    }

    pub fn read(&self, caller: &Caller, path: &DataPath) -> Result<Bytes, DataError> {
        self.authorize(caller, path, Access::Read)?;
        self.store.read(path)
    }

    pub fn write(&self, caller: &Caller, path: &DataPath, body: Bytes) -> Result<(), DataError> {
        self.authorize(caller, path, Access::Write)?;
        if path.collection.is_none() || path.is_collection() {
            return Err(DataError::BadRequest(format!(
                "{path} is not a file path: files live in a collection, as data://.my/<collection>/<name>"
            )));
        }
        if let Some(Entry::Dir) = self.store.stat(path)? {
            return Err(DataError::Conflict(format!(
                "{path} is a directory: a file cannot replace it"
            )));
        }
        self.store.write(path, body)
    }

    pub fn delete_file(&self, caller: &Caller, path: &DataPath) -> Result<(), DataError> {
        self.authorize(caller, path, Access::Write)?;
        match self.store.stat(path)? {
            Some(Entry::File { .. }) => self.store.delete_file(path),
            Some(Entry::Dir) => Err(DataError::BadRequest(format!(
                "{path} is a directory: delete it as a directory"
            ))),
            None => Err(not_found(path)),
        }
    }

    pub fn create_dir(
        &self,
        caller: &Caller,
        path: &DataPath,
        acl: Option<Acl>,
    ) -> Result<(), DataError> {
        self.authorize(caller, path, Access::Write)?;
        let acl = acl.map(Acl::checked).transpose()?;
        if acl.is_some() && !path.is_collection() {
            return Err(DataError::BadRequest(format!(
                "{path}: an ACL can be set only on a collection (data://.my/<collection>)"
            )));
        }
        if self.store.stat(path)?.is_some() {
            return Err(DataError::Conflict(format!("{path} already exists")));
        }
        self.store.create_dir(path)?;
        if let (Some(acl), Some(collection)) = (acl, &path.collection) {
            self.store.set_acl(&path.owner, collection, &acl)?;
        }
        Ok(())
    }

    pub fn list(&self, caller: &Caller, path: &DataPath) -> Result<Vec<Listed>, DataError> {
        self.authorize(caller, path, Access::Read)?;
        match self.store.stat(path)? {
            Some(Entry::Dir) => self.store.list(path),
            // A user's root exists as soon as it is asked for.
            None if path.is_root() => Ok(Vec::new()),
            Some(Entry::File { .. }) => Err(DataError::BadRequest(format!(
                "{path} is a file, not a directory"
            ))),
            None => Err(not_found(path)),
        }
    }

    pub fn delete_dir(
        &self,
        caller: &Caller,
        path: &DataPath,
        force: bool,
    ) -> Result<u64, DataError> {
        self.authorize(caller, path, Access::Write)?;
        if path.is_root() {
            return Err(DataError::BadRequest(format!(
                "{path} is a user's whole space: delete its collections one by one"
            )));
        }
        match self.store.stat(path)? {
            Some(Entry::Dir) => self.store.delete_dir(path, force),
            Some(Entry::File { .. }) => Err(DataError::BadRequest(format!(
                "{path} is a file: delete it as a file"
            ))),
            None => Err(not_found(path)),
        }
    }

    /// The ACL of a collection (the default when none was set), `None` for other paths.
    pub fn acl(&self, caller: &Caller, path: &DataPath) -> Result<Option<Acl>, DataError> {
        self.authorize(caller, path, Access::Read)?;
        match (&path.collection, path.is_collection()) {
            (Some(collection), true) if collection != path::ALGO_COLLECTION => Ok(Some(
                self.store.acl(&path.owner, collection)?.unwrap_or_default(),
            )),
            _ => Ok(None),
        }
    }

    pub fn set_acl(&self, caller: &Caller, path: &DataPath, acl: Acl) -> Result<(), DataError> {
        self.authorize(caller, path, Access::Write)?;
        let acl = acl.checked()?;
        let collection = match (&path.collection, path.is_collection()) {
            (Some(collection), true) if collection != path::ALGO_COLLECTION => collection,
            _ => {
                return Err(DataError::BadRequest(format!(
                    "{path}: an ACL can be set only on a collection (data://.my/<collection>), not on .algo or a sub-directory"
                )));
            }
        };
        match self.store.stat(path)? {
            Some(Entry::Dir) => self.store.set_acl(&path.owner, collection, &acl),
            _ => Err(DataError::NotFound(format!("{path} does not exist"))),
        }
    }
}

/// `path` does not exist (404), in the words every store uses.
pub fn not_found(path: &DataPath) -> DataError {
    DataError::NotFound(format!("{path} does not exist"))
}

/// A file was asked for and `path` is a directory (400).
pub fn not_a_file(path: &DataPath) -> DataError {
    DataError::BadRequest(format!("{path} is a directory, not a file"))
}

/// A path under a file, as if the file were a directory (409).
pub fn under_a_file(path: &DataPath) -> DataError {
    DataError::Conflict(format!("{path}: a parent of it is a file, not a directory"))
}

/// A directory with something in it, deleted without `force` (400).
pub fn not_empty(path: &DataPath) -> DataError {
    DataError::BadRequest(format!(
        "{path} is not empty: delete it with the query parameter force=true"
    ))
}

/// `2026-11-01T12:00:00.000Z`, the form the official clients parse.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let (date, secs) = civil(since.as_secs());
    format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        since.subsec_millis()
    )
}

/// `Sun, 01 Nov 2026 12:00:00 GMT`, for `Last-Modified`.
pub fn http_date(time: SystemTime) -> String {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (_, secs) = civil(since);
    let days = since / 86_400;
    let (year, month, day) = ymd(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// (`YYYY-MM-DD`, seconds into that day) of a Unix time.
fn civil(unix_secs: u64) -> (String, u64) {
    let (year, month, day) = ymd(unix_secs / 86_400);
    (format!("{year:04}-{month:02}-{day:02}"), unix_secs % 86_400)
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn ymd(days: u64) -> (i64, u64, u64) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_in_the_forms_clients_parse() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_793_534_400_123);
        assert_eq!(rfc3339_millis(time), "2026-11-01T12:00:00.123Z");
        assert_eq!(http_date(time), "Sun, 01 Nov 2026 12:00:00 GMT");
        assert_eq!(
            rfc3339_millis(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
