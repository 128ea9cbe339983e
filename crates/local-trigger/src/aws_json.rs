//! The few SQS, DynamoDB Streams and Kinesis calls local delivery needs, over their
//! JSON protocols (moto serves all three; no SDK crate is needed for a dev tool).

use std::collections::HashMap;

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
#[error("{service} {operation} at {endpoint}: {detail}")]
pub struct AwsJsonError {
    pub service: &'static str,
    pub operation: String,
    pub endpoint: String,
    pub detail: String,
}

const JSON_1_0: &str = "application/x-amz-json-1.0";
const JSON_1_1: &str = "application/x-amz-json-1.1";

#[derive(Clone)]
pub struct AwsJson {
    http: reqwest::Client,
    endpoint: String,
}

impl AwsJson {
    pub fn new(endpoint: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    async fn call(
        &self,
        service: &'static str,
        target: &str,
        signing_name: &str,
        content_type: &str,
        operation: &str,
        body: Value,
    ) -> Result<Value, AwsJsonError> {
        let error = |detail: String| AwsJsonError {
            service,
            operation: operation.to_owned(),
            endpoint: self.endpoint.clone(),
            detail,
        };
        let reply = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("X-Amz-Target", format!("{target}.{operation}"))
            .header("Content-Type", content_type)
            .header(
                "Authorization",
                format!("AWS4-HMAC-SHA256 Credential=local/20261128/us-east-1/{signing_name}/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| error(e.to_string()))?;
        let status = reply.status();
        let text = reply.text().await.map_err(|e| error(e.to_string()))?;
        if !status.is_success() {
            return Err(error(format!("HTTP {status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| error(format!("{e}: {text}")))
    }

    pub async fn sqs(&self, operation: &str, body: Value) -> Result<Value, AwsJsonError> {
        self.call("SQS", "AmazonSQS", "sqs", JSON_1_0, operation, body)
            .await
    }

    pub async fn kinesis(&self, operation: &str, body: Value) -> Result<Value, AwsJsonError> {
        self.call(
            "Kinesis",
            "Kinesis_20131202",
            "kinesis",
            JSON_1_1,
            operation,
            body,
        )
        .await
    }

    pub async fn streams(&self, operation: &str, body: Value) -> Result<Value, AwsJsonError> {
        self.call(
            "DynamoDB Streams",
            "DynamoDBStreams_20120810",
            "dynamodb",
            JSON_1_0,
            operation,
            body,
        )
        .await
    }
}

/// Which service a stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    DynamoDb,
    Kinesis,
}

/// Reads a DynamoDB or Kinesis stream shard by shard. Its records come as Lambda
/// delivers them (DynamoDB Streams' own records already have that shape; Kinesis
/// records are wrapped as `{"kinesis": {...}, "eventID": "SHARD:SEQUENCE", ...}`),
/// less `eventSourceARN`, which [`lambda_event`] adds.
pub struct StreamReader {
    api: AwsJson,
    kind: StreamKind,
}

/// A stream record's sequence number, DynamoDB's or Kinesis's, as Lambda delivers it.
pub fn sequence_number(record: &Value) -> Option<&str> {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .or_else(|| record["kinesis"]["sequenceNumber"].as_str())
}

/// `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME` -> `NAME` (moto's GetShardIterator
/// takes only the name).
fn kinesis_stream_name(arn: &str) -> &str {
    arn.rsplit_once(":stream/").map_or(arn, |(_, name)| name)
}

/// A Kinesis `GetRecords` record as Lambda delivers it.
fn kinesis_lambda_record(record: &Value, shard_id: &str) -> Value {
    let sequence = record["SequenceNumber"].as_str().unwrap_or_default();
    json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": sequence,
            "data": record["Data"],
            "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"],
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{shard_id}:{sequence}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/local-trigger",
        "awsRegion": "us-east-1",
    })
}

/// Where reading one shard has got to.
///
/// moto numbers a stream record from the shard's length before appending it, so racing
/// writes can give two records one sequence number, or append them out of order (14,
/// 15, then 14); its iterator then returns some records again. A cursor drops the
/// records it has returned already, by event id, so readers neither loop nor deliver a
/// record twice, and a record that arrives behind a higher sequence number is still
/// delivered. DynamoDB's and Kinesis's ids are unique, so there this drops nothing.
#[derive(Debug, Clone)]
pub struct ShardCursor {
    iterator: String,
    shard_id: String,
    /// Event ids returned, with their sequence numbers (pruned to a recent window).
    returned: HashMap<String, u128>,
    /// The highest sequence number returned.
    highest: u128,
}

/// How far behind the highest sequence number a repeat is still recognised; moto's
/// races put records a few places out of order, not thousands.
const REPEAT_WINDOW: u128 = 4096;

impl ShardCursor {
    fn new(iterator: String, shard_id: String) -> Self {
        Self {
            iterator,
            shard_id,
            returned: HashMap::new(),
            highest: 0,
        }
    }

    /// Keeps the records of `page` not returned before, and remembers them.
    fn fresh(&mut self, page: Vec<Value>) -> Vec<Value> {
        let mut fresh = Vec::with_capacity(page.len());
        for record in page {
            let sequence = sequence_number(&record)
                .and_then(|s| s.parse::<u128>().ok())
                .unwrap_or(self.highest);
            if let Some(id) = record["eventID"].as_str().filter(|id| !id.is_empty())
                && self.returned.insert(id.to_owned(), sequence).is_some()
            {
                continue;
            }
            self.highest = self.highest.max(sequence);
            fresh.push(record);
        }
        if self.returned.len() > 2 * REPEAT_WINDOW as usize {
            let floor = self.highest.saturating_sub(REPEAT_WINDOW);
            self.returned.retain(|_, sequence| *sequence >= floor);
        }
        fresh
    }
}

impl StreamReader {
    /// A reader of DynamoDB streams.
    pub fn new(endpoint: &str) -> Self {
        Self::of(StreamKind::DynamoDb, endpoint)
    }

    /// A reader of Kinesis data streams.
    pub fn kinesis(endpoint: &str) -> Self {
        Self::of(StreamKind::Kinesis, endpoint)
    }

    pub fn of(kind: StreamKind, endpoint: &str) -> Self {
        Self {
            api: AwsJson::new(endpoint),
            kind,
        }
    }

    async fn call(&self, operation: &str, body: Value) -> Result<Value, AwsJsonError> {
        match self.kind {
            StreamKind::DynamoDb => self.api.streams(operation, body).await,
            StreamKind::Kinesis => self.api.kinesis(operation, body).await,
        }
    }

    /// A cursor at the oldest record of every shard of the stream.
    pub async fn cursors(&self, stream_arn: &str) -> Result<Vec<ShardCursor>, AwsJsonError> {
        let shards = match self.kind {
            StreamKind::DynamoDb => {
                let description = self
                    .call("DescribeStream", json!({"StreamArn": stream_arn}))
                    .await?;
                description["StreamDescription"]["Shards"].clone()
            }
            StreamKind::Kinesis => {
                let listing = self
                    .call("ListShards", json!({"StreamARN": stream_arn}))
                    .await?;
                listing["Shards"].clone()
            }
        };
        let shards = shards.as_array().cloned().unwrap_or_default();
        let mut cursors = Vec::new();
        for shard in shards {
            let request = match self.kind {
                StreamKind::DynamoDb => {
                    json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"],
                                               "ShardIteratorType": "TRIM_HORIZON"})
                }
                StreamKind::Kinesis => json!({"StreamName": kinesis_stream_name(stream_arn),
                                              "ShardId": shard["ShardId"],
                                              "ShardIteratorType": "TRIM_HORIZON"}),
            };
            let reply = self.call("GetShardIterator", request).await?;
            if let Some(iterator) = reply["ShardIterator"].as_str() {
                let shard_id = shard["ShardId"].as_str().unwrap_or_default().to_owned();
                cursors.push(ShardCursor::new(iterator.to_owned(), shard_id));
            }
        }
        Ok(cursors)
    }

    /// The next page of records of the cursor's shard not returned before (empty when
    /// there are none yet), moving the cursor past them.
    pub async fn page(&self, cursor: &mut ShardCursor) -> Result<Vec<Value>, AwsJsonError> {
        let page = self
            .call(
                "GetRecords",
                json!({"ShardIterator": cursor.iterator, "Limit": 1000}),
            )
            .await?;
        if let Some(next) = page["NextShardIterator"].as_str() {
            cursor.iterator = next.to_owned();
        }
        let mut records = page["Records"].as_array().cloned().unwrap_or_default();
        if self.kind == StreamKind::Kinesis {
            records = records
                .iter()
                .map(|r| kinesis_lambda_record(r, &cursor.shard_id))
                .collect();
        }
        Ok(cursor.fresh(records))
    }

    /// Every record now in the stream, oldest first (shard by shard).
    pub async fn records(&self, stream_arn: &str) -> Result<Vec<Value>, AwsJsonError> {
        let mut records = Vec::new();
        for mut cursor in self.cursors(stream_arn).await? {
            loop {
                let page = self.page(&mut cursor).await?;
                if page.is_empty() {
                    break;
                }
                records.extend(page);
            }
        }
        Ok(records)
    }
}

/// The event Lambda delivers for `records` of the stream `stream_arn`.
pub fn lambda_event(records: &[Value], stream_arn: &str) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|record| {
            let mut record = record.clone();
            record["eventSourceARN"] = json!(stream_arn);
            record
        })
        .collect();
    json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::ShardCursor;
    use serde_json::{Value, json};

    fn record(id: &str, sequence: &str) -> Value {
        json!({"eventID": id, "dynamodb": {"SequenceNumber": sequence}})
    }

    fn ids(records: &[Value]) -> Vec<&str> {
        records
            .iter()
            .filter_map(|r| r["eventID"].as_str())
            .collect()
    }

    #[test]
    fn a_cursor_returns_each_record_once_even_when_sequence_numbers_repeat() {
        let mut cursor = ShardCursor::new("it".into(), "shard".into());
        // moto after racing writes: b and c share 14, and the next page repeats c.
        let first = cursor.fresh(vec![
            record("a", "13"),
            record("b", "14"),
            record("c", "14"),
        ]);
        assert_eq!(ids(&first), ["a", "b", "c"]);
        assert!(cursor.fresh(vec![record("c", "14")]).is_empty());
        let later = cursor.fresh(vec![record("c", "14"), record("d", "15")]);
        assert_eq!(ids(&later), ["d"]);
        // Appended out of order by racing writes: 17, then 16, is still delivered once.
        assert_eq!(ids(&cursor.fresh(vec![record("f", "17")])), ["f"]);
        let behind = cursor.fresh(vec![record("f", "17"), record("g", "16")]);
        assert_eq!(ids(&behind), ["g"]);
        assert!(cursor.fresh(vec![record("g", "16")]).is_empty());
        // Sequence numbers wider than u64, as DynamoDB's are.
        let wide = cursor.fresh(vec![record("e", "49600000000000000000000001")]);
        assert_eq!(ids(&wide), ["e"]);
    }
}
