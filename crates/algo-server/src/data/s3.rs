//! The Data API on an S3 bucket (`--data-s3-bucket`): files as objects under
//! `<prefix>files/<user>/...`, collection ACLs as `<prefix>acl/<user>/<collection>.json`.
//! A directory is a zero-byte marker object `<dir>/` (as the S3 console makes them) or
//! any object under it, so files written by other tools are listed too. Names are the
//! sanitised segments of [`DataPath`]: no `..`, no separator inside one, so a key never
//! leaves its user's prefix.

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;

use super::path::DataPath;
use super::{Acl, DataError, Entry, Listed, Store, not_a_file, not_empty, not_found, under_a_file};

/// Most keys one DeleteObjects call takes.
const DELETE_BATCH: usize = 1000;

pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    runtime: tokio::runtime::Handle,
}

impl S3Store {
    /// A store on `bucket` (keys under `prefix`), with the SDK's usual configuration
    /// chain; fails with the reason if the bucket cannot be reached.
    pub async fn open(bucket: &str, prefix: &str) -> Result<Self, String> {
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            trimmed => format!("{trimmed}/"),
        };
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(20))
            .operation_timeout(Duration::from_secs(60))
            .build();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        if config.region().is_none() {
            return Err(format!(
                "the Data API bucket {bucket:?} (--data-s3-bucket) needs a region: set AWS_REGION"
            ));
        }
        let client = Client::new(&config);
        client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|error| {
                let why = match error.raw_response().map(|raw| raw.status().as_u16()) {
                    Some(404) => "it does not exist (S3 answered 404)".to_owned(),
                    Some(403) => "access denied (S3 answered 403): the server's credentials \
                                  need s3:ListBucket on it, and object access under the prefix"
                        .to_owned(),
                    _ => describe(&error),
                };
                format!("the Data API bucket {bucket:?} (--data-s3-bucket) cannot be used: {why}")
            })?;
        Ok(Self {
            client,
            bucket: bucket.to_owned(),
            prefix,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Runs S3 calls from the blocking caller's thread.
    fn wait<T>(&self, work: impl Future<Output = T>) -> T {
        tokio::task::block_in_place(|| self.runtime.block_on(work))
    }

    /// The object key of a file at `path` (its directory marker adds `/`).
    fn key(&self, path: &DataPath) -> String {
        let segments: Vec<&str> = path.segments().collect();
        format!("{}files/{}", self.prefix, segments.join("/"))
    }

    fn acl_key(&self, owner: &str, collection: &str) -> String {
        format!("{}acl/{owner}/{collection}.json", self.prefix)
    }

    /// The file at `path` (one HeadObject), if there is one.
    async fn file_async(&self, path: &DataPath) -> Result<Option<Entry>, DataError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .send()
            .await
        {
            Ok(head) => Ok(Some(Entry::File {
                size: head.content_length().unwrap_or(0).max(0) as u64,
                modified: system_time(head.last_modified()),
            })),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(storage_error(path, &error)),
        }
    }

    async fn stat_async(&self, path: &DataPath) -> Result<Option<Entry>, DataError> {
        let key = self.key(path);
        if !path.is_root()
            && let Some(file) = self.file_async(path).await?
        {
            return Ok(Some(file));
        }
        let under = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{key}/"))
            .max_keys(1)
            .send()
            .await
            .map_err(|error| storage_error(path, &error))?;
        Ok((!under.contents().is_empty()).then_some(Entry::Dir))
    }

    /// Refuses a path under a file (local storage cannot hold one either).
    async fn check_parents(&self, path: &DataPath) -> Result<(), DataError> {
        let mut parent = DataPath {
            owner: path.owner.clone(),
            collection: path.collection.clone(),
            rest: Vec::new(),
        };
        for segment in path.rest.iter() {
            if parent.collection.is_some() && self.file_async(&parent).await?.is_some() {
                return Err(under_a_file(path));
            }
            parent.rest.push(segment.clone());
        }
        Ok(())
    }

    async fn put(&self, path: &DataPath, key: String, body: Bytes) -> Result<(), DataError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| storage_error(path, &error))
    }

    /// Every key under `prefix`, following continuation tokens.
    async fn keys_under(&self, path: &DataPath, prefix: &str) -> Result<Vec<String>, DataError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|error| storage_error(path, &error))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    async fn delete_keys(&self, path: &DataPath, keys: &[String]) -> Result<(), DataError> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| DataError::Internal(format!("{path}: {error}")))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|error| DataError::Internal(format!("{path}: {error}")))?;
            let reply = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|error| storage_error(path, &error))?;
            if let Some(failed) = reply.errors().first() {
                return Err(DataError::Internal(format!(
                    "{path}: storage refused to delete {} object(s) (S3 {})",
                    reply.errors().len(),
                    failed.code().unwrap_or("error")
                )));
            }
        }
        Ok(())
    }
}

impl Store for S3Store {
    fn stat(&self, path: &DataPath) -> Result<Option<Entry>, DataError> {
        self.wait(self.stat_async(path))
    }

    fn read(&self, path: &DataPath) -> Result<Bytes, DataError> {
        self.wait(async {
            let object = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.key(path))
                .send()
                .await
            {
                Ok(object) => object,
                Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                    return Err(match self.stat_async(path).await? {
                        Some(Entry::Dir) => not_a_file(path),
                        _ => not_found(path),
                    });
                }
                Err(error) => return Err(storage_error(path, &error)),
            };
            object
                .body
                .collect()
                .await
                .map(|body| body.into_bytes())
                .map_err(|error| {
                    DataError::Internal(format!("{path}: storage read cut short ({error})"))
                })
        })
    }

    fn write(&self, path: &DataPath, body: Bytes) -> Result<(), DataError> {
        self.wait(async {
            self.check_parents(path).await?;
            // One PUT: S3 makes the object visible whole or not at all.
            self.put(path, self.key(path), body).await
        })
    }

    fn delete_file(&self, path: &DataPath) -> Result<(), DataError> {
        self.wait(async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.key(path))
                .send()
                .await
                .map(|_| ())
                .map_err(|error| storage_error(path, &error))
        })
    }

    fn create_dir(&self, path: &DataPath) -> Result<(), DataError> {
        self.wait(async {
            self.check_parents(path).await?;
            self.put(path, format!("{}/", self.key(path)), Bytes::new())
                .await
        })
    }

    fn list(&self, path: &DataPath) -> Result<Vec<Listed>, DataError> {
        self.wait(async {
            let prefix = format!("{}/", self.key(path));
            let mut listed = Vec::new();
            let mut token = None;
            loop {
                let page = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&prefix)
                    .delimiter("/")
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|error| storage_error(path, &error))?;
                for folder in page.common_prefixes() {
                    if let Some(name) = folder
                        .prefix()
                        .and_then(|key| key.strip_prefix(&prefix))
                        .and_then(|rest| rest.strip_suffix('/'))
                        .filter(|name| !name.is_empty())
                    {
                        listed.push(Listed {
                            name: name.to_owned(),
                            entry: Entry::Dir,
                        });
                    }
                }
                for object in page.contents() {
                    // The directory's own marker is not an entry of it.
                    let Some(name) = object
                        .key()
                        .and_then(|key| key.strip_prefix(&prefix))
                        .filter(|name| !name.is_empty())
                    else {
                        continue;
                    };
                    listed.push(Listed {
                        name: name.to_owned(),
                        entry: Entry::File {
                            size: object.size().unwrap_or(0).max(0) as u64,
                            modified: system_time(object.last_modified()),
                        },
                    });
                }
                token = page.next_continuation_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            listed.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(listed)
        })
    }

    fn delete_dir(&self, path: &DataPath, force: bool) -> Result<u64, DataError> {
        self.wait(async {
            let marker = format!("{}/", self.key(path));
            let keys = self.keys_under(path, &marker).await?;
            if !force && keys.iter().any(|key| *key != marker) {
                return Err(not_empty(path));
            }
            let files = keys.iter().filter(|key| !key.ends_with('/')).count() as u64;
            self.delete_keys(path, &keys).await?;
            if path.is_collection()
                && let (owner, Some(collection)) = (&path.owner, &path.collection)
            {
                let acl = self.acl_key(owner, collection);
                let _ = self
                    .client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(acl)
                    .send()
                    .await;
            }
            Ok(files)
        })
    }

    fn acl(&self, owner: &str, collection: &str) -> Result<Option<Acl>, DataError> {
        self.wait(async {
            let object = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.acl_key(owner, collection))
                .send()
                .await
            {
                Ok(object) => object,
                Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                    return Ok(None);
                }
                Err(error) => {
                    return Err(DataError::Internal(format!(
                        "cannot read an ACL: {}",
                        describe(&error)
                    )));
                }
            };
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|error| DataError::Internal(format!("cannot read an ACL: {error}")))?
                .into_bytes();
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| DataError::Internal(format!("stored ACL is corrupt: {error}")))
        })
    }

    fn set_acl(&self, owner: &str, collection: &str, acl: &Acl) -> Result<(), DataError> {
        let json = serde_json::to_vec(acl)
            .map_err(|error| DataError::Internal(format!("cannot store an ACL: {error}")))?;
        self.wait(async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.acl_key(owner, collection))
                .content_type("application/json")
                .body(ByteStream::from(json))
                .send()
                .await
                .map(|_| ())
                .map_err(|error| {
                    DataError::Internal(format!("cannot store an ACL: {}", describe(&error)))
                })
        })
    }
}

fn system_time(time: Option<&DateTime>) -> SystemTime {
    time.and_then(|time| SystemTime::try_from(*time).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// A failed S3 call as the caller may see it: S3's error code, never the bucket's keys.
fn storage_error<E>(path: &DataPath, error: &SdkError<E, HttpResponse>) -> DataError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    tracing::warn!(
        error = %aws_sdk_s3::error::DisplayErrorContext(error),
        "Data API storage call failed for {path}"
    );
    match error.code() {
        Some("NoSuchKey" | "NotFound") => not_found(path),
        Some("KeyTooLongError") => {
            DataError::BadRequest(format!("{path} is too long for the storage bucket"))
        }
        _ => DataError::Internal(format!("{path}: storage error ({})", describe(error))),
    }
}

/// `S3 <code>` for a service's answer; what went wrong on the way for the others.
fn describe<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> String {
    match (error.code(), error) {
        (Some(code), _) => format!("S3 {code}"),
        (None, SdkError::TimeoutError(_)) => "S3 did not answer in time".to_owned(),
        (None, SdkError::DispatchFailure(_)) => "S3 could not be reached".to_owned(),
        (None, _) => match error.raw_response() {
            Some(raw) => format!("S3 answered HTTP {}", raw.status().as_u16()),
            None => "the S3 request could not be made".to_owned(),
        },
    }
}
