//! The few SQS and DynamoDB Streams calls local delivery needs, over their JSON
//! protocols (moto serves both; no SDK crate is needed for a dev tool).

use std::collections::HashSet;

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
#[error("{service} {operation} at {endpoint}: {detail}")]
pub struct AwsJsonError {
    pub service: &'static str,
    pub operation: String,
    pub endpoint: String,
    pub detail: String,
}

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
            .header("Content-Type", "application/x-amz-json-1.0")
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
        self.call("SQS", "AmazonSQS", "sqs", operation, body).await
    }

    pub async fn streams(&self, operation: &str, body: Value) -> Result<Value, AwsJsonError> {
        self.call(
            "DynamoDB Streams",
            "DynamoDBStreams_20120810",
            "dynamodb",
            operation,
            body,
        )
        .await
    }
}

/// Reads a DynamoDB stream shard by shard.
pub struct StreamReader {
    api: AwsJson,
}

/// Where reading one shard has got to.
///
/// moto can give two records of a shard the same sequence number when writes race,
/// and its iterator then returns the second one again and again. A cursor drops the
/// records it has returned already, so readers neither loop nor deliver a record
/// twice. DynamoDB's sequence numbers only increase, so there this drops nothing.
#[derive(Debug, Clone)]
pub struct ShardCursor {
    iterator: String,
    /// The highest sequence number returned, and the event ids returned with it.
    last: Option<(u128, HashSet<String>)>,
}

impl ShardCursor {
    fn new(iterator: String) -> Self {
        Self {
            iterator,
            last: None,
        }
    }

    /// Keeps the records of `page` not returned before, and remembers them.
    fn fresh(&mut self, page: Vec<Value>) -> Vec<Value> {
        let mut fresh = Vec::with_capacity(page.len());
        for record in page {
            let sequence = record["dynamodb"]["SequenceNumber"]
                .as_str()
                .and_then(|s| s.parse::<u128>().ok());
            let id = record["eventID"].as_str().unwrap_or_default().to_owned();
            if let Some(sequence) = sequence {
                match &mut self.last {
                    Some((last, ids))
                        if sequence < *last || (sequence == *last && ids.contains(&id)) =>
                    {
                        continue;
                    }
                    Some((last, ids)) if sequence == *last => {
                        ids.insert(id);
                    }
                    _ => self.last = Some((sequence, HashSet::from([id]))),
                }
            }
            fresh.push(record);
        }
        fresh
    }
}

impl StreamReader {
    pub fn new(endpoint: &str) -> Self {
        Self {
            api: AwsJson::new(endpoint),
        }
    }

    /// A cursor at the oldest record of every shard of the stream.
    pub async fn cursors(&self, stream_arn: &str) -> Result<Vec<ShardCursor>, AwsJsonError> {
        let description = self
            .api
            .streams("DescribeStream", json!({"StreamArn": stream_arn}))
            .await?;
        let shards = description["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut cursors = Vec::new();
        for shard in shards {
            let reply = self
                .api
                .streams(
                    "GetShardIterator",
                    json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"],
                           "ShardIteratorType": "TRIM_HORIZON"}),
                )
                .await?;
            if let Some(iterator) = reply["ShardIterator"].as_str() {
                cursors.push(ShardCursor::new(iterator.to_owned()));
            }
        }
        Ok(cursors)
    }

    /// The next page of records of the cursor's shard not returned before (empty when
    /// there are none yet), moving the cursor past them.
    pub async fn page(&self, cursor: &mut ShardCursor) -> Result<Vec<Value>, AwsJsonError> {
        let page = self
            .api
            .streams(
                "GetRecords",
                json!({"ShardIterator": cursor.iterator, "Limit": 1000}),
            )
            .await?;
        if let Some(next) = page["NextShardIterator"].as_str() {
            cursor.iterator = next.to_owned();
        }
        let records = page["Records"].as_array().cloned().unwrap_or_default();
        Ok(cursor.fresh(records))
    }

    /// Every record now in the stream, oldest first.
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
        let mut cursor = ShardCursor::new("it".into());
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
        // Sequence numbers wider than u64, as DynamoDB's are.
        let wide = cursor.fresh(vec![record("e", "49600000000000000000000001")]);
        assert_eq!(ids(&wide), ["e"]);
    }
}
