//! Reading sources and writing outputs in S3, the way every S3 blueprint does it:
//! outputs carry the source's key and ETag in their metadata, so a replayed event
//! finds its outputs current and writes nothing twice.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

/// Metadata keys on every output object.
pub const META_SOURCE_BUCKET: &str = "source-bucket";
/// The source key, percent-encoded (S3 metadata must be ASCII).
pub const META_SOURCE_KEY: &str = "source-key";
pub const META_SOURCE_ETAG: &str = "source-etag";

#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} s3://{bucket}/{key} failed: {detail}")]
pub struct StorageError {
    pub operation: &'static str,
    pub bucket: String,
    pub key: String,
    pub detail: String,
    /// The object is not there (deleted since the event): retrying cannot help.
    pub not_found: bool,
}

impl StorageError {
    fn new<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        error: SdkError<E, R>,
    ) -> Self {
        let not_found = error
            .as_service_error()
            .and_then(|e| e.code())
            .is_some_and(|code| matches!(code, "NoSuchKey" | "NotFound" | "NoSuchBucket"));
        Self {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            detail: DisplayErrorContext(&error).to_string(),
            not_found,
        }
    }
}

/// A source object as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceObject {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub content_type: Option<String>,
    pub size: u64,
}

impl SourceObject {
    /// The metadata that ties an output to this version of the source.
    pub fn output_metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            (META_SOURCE_BUCKET.to_owned(), self.bucket.clone()),
            (
                META_SOURCE_KEY.to_owned(),
                crate::s3_event::encode_key(&self.key),
            ),
            (META_SOURCE_ETAG.to_owned(), self.etag.clone()),
        ])
    }
}

pub async fn head_source(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<SourceObject, StorageError> {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| StorageError::new("HeadObject", bucket, key, e))?;
    Ok(SourceObject {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        etag: head
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned(),
        content_type: head.content_type().map(str::to_owned),
        size: head.content_length().unwrap_or(0).max(0) as u64,
    })
}

/// Whether `bucket/key` exists and was made from this version of `source`.
pub async fn output_is_current(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    source: &SourceObject,
) -> Result<bool, StorageError> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => Ok(head
            .metadata()
            .and_then(|m| m.get(META_SOURCE_ETAG))
            .is_some_and(|etag| *etag == source.etag)),
        Err(e) => {
            let error = StorageError::new("HeadObject", bucket, key, e);
            if error.not_found {
                Ok(false)
            } else {
                Err(error)
            }
        }
    }
}

/// An object to write, with its headers.
#[derive(Debug, Clone)]
pub struct OutputObject {
    pub bucket: String,
    pub key: String,
    pub body: Vec<u8>,
    pub content_type: String,
    pub cache_control: Option<String>,
    pub metadata: HashMap<String, String>,
}

pub async fn put_output(s3: &aws_sdk_s3::Client, output: OutputObject) -> Result<(), StorageError> {
    s3.put_object()
        .bucket(&output.bucket)
        .key(&output.key)
        .content_type(&output.content_type)
        .set_cache_control(output.cache_control.clone())
        .set_metadata(Some(output.metadata.clone()))
        .body(ByteStream::from(output.body))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| StorageError::new("PutObject", &output.bucket, &output.key, e))
}

/// The whole body of an object (for small objects such as result JSON).
pub async fn get_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, StorageError> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| StorageError::new("GetObject", bucket, key, e))?;
    object
        .body
        .collect()
        .await
        .map(|data| data.into_bytes().to_vec())
        .map_err(|e| StorageError {
            operation: "GetObject",
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            detail: e.to_string(),
            not_found: false,
        })
}

pub async fn delete_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<(), StorageError> {
    s3.delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| StorageError::new("DeleteObject", bucket, key, e))
}

/// A presigned GET URL, so an algorithm reads the object without AWS credentials.
pub async fn presign_get(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    expires: Duration,
) -> Result<String, StorageError> {
    let config = presigning(bucket, key, expires)?;
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .presigned(config)
        .await
        .map(|r| r.uri().to_owned())
        .map_err(|e| StorageError::new("presign GetObject", bucket, key, e))
}

/// A presigned PUT URL, so an algorithm writes its result without AWS credentials.
/// Only the host is signed: the writer may send any headers.
pub async fn presign_put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    expires: Duration,
) -> Result<String, StorageError> {
    let config = presigning(bucket, key, expires)?;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .presigned(config)
        .await
        .map(|r| r.uri().to_owned())
        .map_err(|e| StorageError::new("presign PutObject", bucket, key, e))
}

fn presigning(
    bucket: &str,
    key: &str,
    expires: Duration,
) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(expires).map_err(|e| StorageError {
        operation: "presign",
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        detail: e.to_string(),
        not_found: false,
    })
}
