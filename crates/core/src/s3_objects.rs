//! Reading sources and writing outputs in S3, the way every S3 blueprint does it:
//! outputs carry the source's key and ETag in their metadata, so a replayed event
//! finds its outputs current and writes nothing twice.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::report::Outcome;

/// Metadata keys on every output object.
pub const META_SOURCE_BUCKET: &str = "source-bucket";
/// The source key, percent-encoded (S3 metadata must be ASCII).
pub const META_SOURCE_KEY: &str = "source-key";
pub const META_SOURCE_ETAG: &str = "source-etag";

/// S3's longest object key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;
/// S3's limit on an object's user-defined metadata: the UTF-8 bytes of every key and
/// value together.
pub const MAX_USER_METADATA_BYTES: usize = 2048;

/// S3 error codes that say the same request can never succeed.
const PERMANENT_CODES: [(&str, &str); 4] = [
    ("KeyTooLongError", "S3's 1024-byte key limit"),
    ("MetadataTooLarge", "S3's 2 KB user-metadata limit"),
    ("EntityTooLarge", "S3's 5 GB single-PUT limit"),
    ("InvalidArgument", "a value S3 never accepts"),
];

#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} s3://{bucket}/{key} failed: {detail}")]
pub struct StorageError {
    pub operation: &'static str,
    pub bucket: String,
    pub key: String,
    pub detail: String,
    /// The object is not there (deleted since the event): retrying cannot help.
    pub not_found: bool,
    /// The request breaks one of S3's limits (found before the call, or said by S3's
    /// error code): the same request can never succeed, so the record is rejected.
    pub permanent: bool,
}

impl StorageError {
    fn new<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        error: SdkError<E, R>,
    ) -> Self {
        let code = error.as_service_error().and_then(|e| e.code());
        let not_found =
            code.is_some_and(|code| matches!(code, "NoSuchKey" | "NotFound" | "NoSuchBucket"));
        let limit = code.and_then(|code| {
            PERMANENT_CODES
                .iter()
                .find(|(permanent, _)| *permanent == code)
                .map(|(_, limit)| *limit)
        });
        let mut detail = DisplayErrorContext(&error).to_string();
        if let Some(limit) = limit {
            detail = format!("{detail} ({limit}: retrying cannot help)");
        }
        Self {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            detail,
            not_found,
            permanent: limit.is_some(),
        }
    }

    fn over_limit(operation: &'static str, bucket: &str, key: &str, limit: OutputLimit) -> Self {
        Self {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            detail: limit.to_string(),
            not_found: false,
            permanent: true,
        }
    }
}

impl From<StorageError> for Outcome {
    /// A request that breaks one of S3's limits is rejected (retrying cannot help);
    /// anything else failed, to be retried.
    fn from(error: StorageError) -> Self {
        if error.permanent {
            Outcome::Rejected {
                error: error.to_string(),
            }
        } else {
            Outcome::Failed {
                error: error.to_string(),
            }
        }
    }
}

/// An output S3 would refuse for good, found before any work is done. moto does not
/// enforce these limits; S3 does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputLimit {
    #[error(
        "output key {key:?} is {bytes} bytes, over S3's {MAX_KEY_BYTES}-byte key limit: shorten the source key or OUTPUT_PREFIX"
    )]
    KeyTooLong { key: String, bytes: usize },
    #[error(
        "the output's metadata is {bytes} bytes, over S3's {MAX_USER_METADATA_BYTES}-byte limit on user metadata: it holds the source key percent-encoded ({encoded_key} bytes); shorten the source key"
    )]
    MetadataTooLarge { bytes: usize, encoded_key: usize },
}

/// Checks `key` and `metadata` against S3's key and user-metadata limits.
pub fn check_output(key: &str, metadata: &HashMap<String, String>) -> Result<(), OutputLimit> {
    check_key(key)?;
    let bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_USER_METADATA_BYTES {
        return Err(OutputLimit::MetadataTooLarge {
            bytes,
            encoded_key: metadata.get(META_SOURCE_KEY).map_or(0, String::len),
        });
    }
    Ok(())
}

/// Checks `key` against S3's key limit (a key an algorithm writes to, say).
pub fn check_key(key: &str) -> Result<(), OutputLimit> {
    if key.len() > MAX_KEY_BYTES {
        return Err(OutputLimit::KeyTooLong {
            key: shortened(key),
            bytes: key.len(),
        });
    }
    Ok(())
}

/// The start and end of a long key, for messages.
fn shortened(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 80 {
        return key.to_owned();
    }
    let head: String = chars[..40].iter().collect();
    let tail: String = chars[chars.len() - 30..].iter().collect();
    format!("{head}…{tail}")
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
    /// Checks an output made from this source against S3's limits: its key, and its
    /// metadata (which holds this source's key).
    pub fn check_output(&self, key: &str) -> Result<(), OutputLimit> {
        check_output(key, &self.output_metadata())
    }

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

/// Writes `output`; one over S3's key or metadata limit is refused before the call.
pub async fn put_output(s3: &aws_sdk_s3::Client, output: OutputObject) -> Result<(), StorageError> {
    if let Err(limit) = check_output(&output.key, &output.metadata) {
        return Err(StorageError::over_limit(
            "PutObject",
            &output.bucket,
            &output.key,
            limit,
        ));
    }
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

/// The body of an object of at most `max_bytes` (`ALGORITHMIA_MAX_REPLY_BYTES` for an
/// async result): read piece by piece, and refused as soon as it is over, so a huge
/// object never sits in memory whole.
pub async fn get_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    max_bytes: usize,
) -> Result<Vec<u8>, StorageError> {
    let failed = |detail: String| StorageError {
        operation: "GetObject",
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        detail,
        not_found: false,
        permanent: false,
    };
    let too_large = || {
        failed(format!(
            "the object is over ALGORITHMIA_MAX_REPLY_BYTES ({max_bytes} bytes): not read further. Raise ALGORITHMIA_MAX_REPLY_BYTES with the function's memory"
        ))
    };
    let mut object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| StorageError::new("GetObject", bucket, key, e))?;
    if object
        .content_length()
        .is_some_and(|n| n > max_bytes as i64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = object.body.next().await {
        let chunk = chunk.map_err(|e| failed(e.to_string()))?;
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
        permanent: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(key: &str) -> SourceObject {
        SourceObject {
            bucket: "b".into(),
            key: key.into(),
            etag: "0123456789abcdef0123456789abcdef".into(),
            content_type: None,
            size: 1,
        }
    }

    #[test]
    fn outputs_over_s3s_limits_are_refused_naming_the_limit() {
        let fine = source("photos/a.jpg");
        assert_eq!(fine.check_output("thumbs/a.jpg"), Ok(()));
        let at_limit = "k".repeat(MAX_KEY_BYTES);
        assert_eq!(check_key(&at_limit), Ok(()));
        let err = fine
            .check_output(&format!("{at_limit}é"))
            .expect_err("1026 bytes");
        assert!(
            err.to_string()
                .contains("is 1026 bytes, over S3's 1024-byte key limit"),
            "{err}"
        );
        // A valid source key of 300 non-ASCII characters: 900 bytes of UTF-8, 2,700
        // percent-encoded.
        let long_name = source(&"写".repeat(300));
        let err = long_name
            .check_output("thumbs/x.jpg")
            .expect_err("metadata");
        assert!(
            matches!(
                err,
                OutputLimit::MetadataTooLarge {
                    encoded_key: 2700,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("over S3's 2048-byte limit on user metadata"),
            "{err}"
        );
    }

    #[test]
    fn only_limit_errors_reject_the_record() {
        let mut error = StorageError::over_limit(
            "PutObject",
            "b",
            "k",
            OutputLimit::KeyTooLong {
                key: "k".into(),
                bytes: 2000,
            },
        );
        assert!(matches!(Outcome::from(error), Outcome::Rejected { .. }));
        error = StorageError {
            operation: "PutObject",
            bucket: "b".into(),
            key: "k".into(),
            detail: "503 SlowDown".into(),
            not_found: false,
            permanent: false,
        };
        assert!(matches!(Outcome::from(error), Outcome::Failed { .. }));
    }
}
