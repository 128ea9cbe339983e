//! DynamoDB Streams through its JSON API (as moto serves it), turned into the event
//! a Lambda event source mapping would deliver.

use serde_json::{Value, json};

pub struct StreamReader {
    http: reqwest::Client,
    endpoint: String,
}

impl StreamReader {
    pub fn new(endpoint: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    async fn call(&self, operation: &str, body: Value) -> Value {
        let reply = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("X-Amz-Target", format!("DynamoDBStreams_20120810.{operation}"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261128/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("DynamoDB Streams {operation}: {e}"));
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(status.is_success(), "DynamoDB Streams {operation}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{operation} reply: {e}: {text}"))
    }

    /// Every record now in the stream, oldest first, across its shards.
    pub async fn records(&self, stream_arn: &str) -> Vec<Value> {
        let description = self
            .call("DescribeStream", json!({"StreamArn": stream_arn}))
            .await;
        let shards = description["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut records = Vec::new();
        for shard in shards {
            let iterator = self
                .call(
                    "GetShardIterator",
                    json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"],
                           "ShardIteratorType": "TRIM_HORIZON"}),
                )
                .await;
            let mut iterator = iterator["ShardIterator"].as_str().map(str::to_owned);
            while let Some(current) = iterator {
                let page = self
                    .call("GetRecords", json!({"ShardIterator": current, "Limit": 1000}))
                    .await;
                let batch = page["Records"].as_array().cloned().unwrap_or_default();
                if batch.is_empty() {
                    break;
                }
                records.extend(batch);
                iterator = page["NextShardIterator"].as_str().map(str::to_owned);
            }
        }
        records
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
