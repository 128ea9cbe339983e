//! The few SQS and DynamoDB Streams calls local delivery needs, over their JSON
//! protocols (moto serves both; no SDK crate is needed for a dev tool).

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

impl StreamReader {
    pub fn new(endpoint: &str) -> Self {
        Self {
            api: AwsJson::new(endpoint),
        }
    }

    /// The first shard iterator of every shard of the stream.
    pub async fn iterators(&self, stream_arn: &str) -> Result<Vec<String>, AwsJsonError> {
        let description = self
            .api
            .streams("DescribeStream", json!({"StreamArn": stream_arn}))
            .await?;
        let shards = description["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut iterators = Vec::new();
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
                iterators.push(iterator.to_owned());
            }
        }
        Ok(iterators)
    }

    /// One page of records and the iterator for the next page.
    pub async fn page(&self, iterator: &str) -> Result<(Vec<Value>, Option<String>), AwsJsonError> {
        let page = self
            .api
            .streams(
                "GetRecords",
                json!({"ShardIterator": iterator, "Limit": 1000}),
            )
            .await?;
        let records = page["Records"].as_array().cloned().unwrap_or_default();
        let next = page["NextShardIterator"].as_str().map(str::to_owned);
        Ok((records, next))
    }

    /// Every record now in the stream, oldest first.
    pub async fn records(&self, stream_arn: &str) -> Result<Vec<Value>, AwsJsonError> {
        let mut records = Vec::new();
        for mut iterator in self.iterators(stream_arn).await? {
            loop {
                let (batch, next) = self.page(&iterator).await?;
                if batch.is_empty() {
                    break;
                }
                records.extend(batch);
                match next {
                    Some(next) => iterator = next,
                    None => break,
                }
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
