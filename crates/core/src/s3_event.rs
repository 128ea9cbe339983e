//! S3 event notifications as a Lambda receives them.
//!
//! Parsed leniently on purpose: `aws_lambda_events::s3::S3Event` requires fields
//! (`userIdentity`, `requestParameters`) that emulators and replays omit, and it
//! cannot represent the `s3:TestEvent` S3 sends when a notification is configured.

use std::future::Future;

use futures::{StreamExt, stream};
use serde::Deserialize;
use serde_json::Value;

use crate::lambda::{Diagnostic, diagnostic};
use crate::report::{Outcome, Report};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum S3EventError {
    #[error("not an S3 notification: {0}")]
    Shape(String),
    #[error("object key {0:?} is not valid percent-encoded UTF-8")]
    Key(String),
}

/// One object event of a notification, with its key decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct S3ObjectEvent {
    /// e.g. `ObjectCreated:Put`
    pub event_name: String,
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum S3Notification {
    /// `s3:TestEvent`: sent once when a notification is configured; nothing to do.
    Test,
    Records(Vec<S3ObjectEvent>),
}

#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "Records")]
    records: Option<Vec<WireRecord>>,
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRecord {
    #[serde(default)]
    event_name: String,
    s3: WireEntity,
}

#[derive(Deserialize)]
struct WireEntity {
    bucket: WireBucket,
    object: WireObject,
}

#[derive(Deserialize)]
struct WireBucket {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireObject {
    key: String,
    size: Option<u64>,
    e_tag: Option<String>,
    version_id: Option<String>,
}

impl S3Notification {
    pub fn parse(event: Value) -> Result<Self, S3EventError> {
        let wire: Wire =
            serde_json::from_value(event).map_err(|e| S3EventError::Shape(e.to_string()))?;
        if wire.event.as_deref() == Some("s3:TestEvent") {
            return Ok(S3Notification::Test);
        }
        let records = wire
            .records
            .ok_or_else(|| S3EventError::Shape("no \"Records\" array".into()))?;
        records
            .into_iter()
            .map(|r| {
                Ok(S3ObjectEvent {
                    event_name: r.event_name,
                    bucket: r.s3.bucket.name,
                    key: decode_key(&r.s3.object.key)?,
                    size: r.s3.object.size,
                    etag: r.s3.object.e_tag.map(|t| t.trim_matches('"').to_owned()),
                    version_id: r.s3.object.version_id,
                })
            })
            .collect::<Result<_, _>>()
            .map(S3Notification::Records)
    }

    /// Handles each object record of the notification `payload`, `concurrency` at a
    /// time, and reports them in the event's order (see [`Report::into_result`]).
    /// `s3:TestEvent` is an empty report; a payload that is not an S3 notification is
    /// a non-retryable `MalformedEvent`.
    pub async fn handle_each<F, Fut>(
        payload: Value,
        concurrency: usize,
        handle: F,
    ) -> Result<Report, Diagnostic>
    where
        F: Fn(S3ObjectEvent) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let records = match Self::parse(payload) {
            Ok(Self::Test) => {
                tracing::info!("s3:TestEvent: nothing to do");
                return Ok(Report::default());
            }
            Ok(Self::Records(records)) => records,
            Err(e) => return Err(diagnostic(false, "MalformedEvent", &e)),
        };
        let handle = &handle;
        let outcomes: Vec<(String, Outcome)> = stream::iter(records)
            .map(|record| async move {
                let label = format!("s3://{}/{}", record.bucket, record.key);
                (label, handle(record).await)
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
        let mut report = Report::default();
        for (label, outcome) in outcomes {
            report.push(label, outcome);
        }
        report.into_result()
    }
}

/// Decodes a key as S3 sends it in events: form encoding, so `+` is a space, then
/// percent-decoding (a literal `+` arrives as `%2B`).
pub fn decode_key(raw: &str) -> Result<String, S3EventError> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| S3EventError::Key(raw.to_owned()))
}

/// Encodes a key the way S3 does in events (for tests, sample events and replays).
pub fn encode_key(key: &str) -> String {
    form_urlencoded::byte_serialize(key.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_keys_as_s3_encodes_them() {
        for (raw, decoded) in [
            ("red+flower.jpg", "red flower.jpg"),
            ("a%2Bb.jpg", "a+b.jpg"),
            ("photos%2F2024%2Fme.jpg", "photos/2024/me.jpg"),
            ("photos/2024/me.jpg", "photos/2024/me.jpg"),
            ("x%3Dy.png", "x=y.png"),
            ("caf%C3%A9+%E5%86%99%E7%9C%9F.jpg", "café 写真.jpg"),
            ("100%25.png", "100%.png"),
        ] {
            assert_eq!(decode_key(raw).as_deref(), Ok(decoded), "{raw}");
            assert_eq!(decode_key(&encode_key(decoded)).as_deref(), Ok(decoded));
        }
        assert!(decode_key("bad%FF").is_err());
    }

    #[test]
    fn recognises_the_test_event() {
        let event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent",
                           "Time": "2024-01-01T00:00:00.000Z", "Bucket": "b"});
        assert_eq!(S3Notification::parse(event), Ok(S3Notification::Test));
    }

    #[test]
    fn parses_a_minimal_record_like_motos() {
        let event = json!({"Records": [{"eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"},
                   "object": {"key": "in/red+flower.jpg", "size": 3, "eTag": "\"abc\""}}}]});
        let S3Notification::Records(records) = S3Notification::parse(event).expect("valid") else {
            panic!("expected records");
        };
        assert_eq!(records[0].key, "in/red flower.jpg");
        assert_eq!(records[0].etag.as_deref(), Some("abc"));
        assert!(S3Notification::parse(json!({"foo": 1})).is_err());
    }
}
