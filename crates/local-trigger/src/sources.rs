//! The polling loops: S3 notifications from an SQS queue, plain SQS messages, and
//! records from a DynamoDB or Kinesis stream, each delivered to one function with
//! retries and, when those run out, a line in the dead-letter log. Batches honour
//! partial batch responses (`batchItemFailures`) as Lambda does.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::aws_json::{AwsJson, StreamKind, StreamReader, lambda_event, sequence_number};
use crate::invoke::Invoker;

const IDLE_POLL: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct Delivery {
    pub invoker: Invoker,
    pub api: AwsJson,
    pub endpoint: String,
    /// Invocations per event (or per batch position) before it is dead-lettered.
    pub max_attempts: u32,
    pub dead_letter: PathBuf,
}

impl Delivery {
    fn backoff(attempt: u32) -> Duration {
        Duration::from_millis(200 * 2u64.pow(attempt.min(5)))
    }

    fn dead_letter(&self, function: &str, error: &str, event: &Value) {
        tracing::error!(%function, %error, file = %self.dead_letter.display(), "retries exhausted: dead-lettered");
        let line = json!({"function": function, "error": error, "event": event});
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dead_letter)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write the dead-letter log");
        }
    }

    /// Invokes until success, up to `max_attempts`; then dead-letters the event.
    async fn deliver(&self, function: &str, event: &Value) {
        for attempt in 1..=self.max_attempts {
            match self.invoker.invoke(function, event).await {
                Ok(reply) => {
                    tracing::info!(%function, %reply, "delivered");
                    return;
                }
                Err(error) if attempt == self.max_attempts => {
                    self.dead_letter(function, &error.to_string(), event);
                }
                Err(error) => {
                    tracing::warn!(%function, attempt, %error, "invocation failed: retrying");
                    tokio::time::sleep(Self::backoff(attempt)).await;
                }
            }
        }
    }

    /// S3 notifications that moto delivers to an SQS queue.
    pub async fn run_queue(&self, queue_url: &str, function: &str) {
        loop {
            let reply = self
                .api
                .sqs(
                    "ReceiveMessage",
                    json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
                )
                .await;
            let messages = match reply {
                Ok(reply) => reply["Messages"].as_array().cloned().unwrap_or_default(),
                Err(error) => {
                    tracing::warn!(%error, "receiving from SQS failed");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            if messages.is_empty() {
                tokio::time::sleep(IDLE_POLL).await;
            }
            for message in messages {
                let body = message["Body"].as_str().unwrap_or_default();
                match serde_json::from_str::<Value>(body) {
                    Ok(event) => self.deliver(function, &event).await,
                    Err(e) => self.dead_letter(function, &format!("not JSON: {e}"), &json!(body)),
                }
                let deleted = self
                    .api
                    .sqs(
                        "DeleteMessage",
                        json!({"QueueUrl": queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
                    )
                    .await;
                if let Err(error) = deleted {
                    tracing::warn!(%error, "deleting the SQS message failed");
                }
            }
        }
    }

    /// DynamoDB or Kinesis stream records, shard by shard in batches, honouring
    /// partial batch responses: a reply naming failed sequence numbers is retried from
    /// the earliest of them (so the records after it come again too, as in Lambda).
    pub async fn run_stream(
        &self,
        kind: StreamKind,
        stream_arn: &str,
        function: &str,
        batch_size: usize,
    ) {
        let reader = StreamReader::of(kind, &self.endpoint);
        let mut cursors = loop {
            match reader.cursors(stream_arn).await {
                Ok(cursors) => break cursors,
                Err(error) => {
                    tracing::warn!(%error, "describing the stream failed");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        };
        loop {
            let mut idle = true;
            for cursor in &mut cursors {
                match reader.page(cursor).await {
                    Ok(records) => {
                        for batch in records.chunks(batch_size.max(1)) {
                            idle = false;
                            self.deliver_batch(stream_arn, function, batch.to_vec())
                                .await;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "reading the stream failed"),
                }
            }
            if idle {
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }

    async fn deliver_batch(&self, stream_arn: &str, function: &str, mut records: Vec<Value>) {
        let mut attempt = 0;
        while !records.is_empty() {
            attempt += 1;
            let event = lambda_event(&records, stream_arn);
            let retry_from = match self.invoker.invoke(function, &event).await {
                Ok(reply) => {
                    let failed: Vec<&str> = reply["batchItemFailures"]
                        .as_array()
                        .map(|f| {
                            f.iter()
                                .filter_map(|i| i["itemIdentifier"].as_str())
                                .collect()
                        })
                        .unwrap_or_default();
                    tracing::info!(%function, records = records.len(), failed = failed.len(), "delivered stream batch");
                    if failed.is_empty() {
                        return;
                    }
                    // Lambda retries from the earliest failed record; an unknown
                    // identifier fails the whole batch.
                    records
                        .iter()
                        .position(|r| sequence_number(r).is_some_and(|s| failed.contains(&s)))
                        .unwrap_or(0)
                }
                Err(error) => {
                    tracing::warn!(%function, attempt, %error, "stream batch failed");
                    if attempt >= self.max_attempts {
                        self.dead_letter(function, &error.to_string(), &event);
                        return;
                    }
                    0
                }
            };
            records.drain(..retry_from);
            if attempt >= self.max_attempts {
                self.dead_letter(
                    function,
                    "records still reported failed",
                    &lambda_event(&records, stream_arn),
                );
                return;
            }
            tokio::time::sleep(Self::backoff(attempt)).await;
        }
    }

    /// Plain SQS messages, as Lambda's SQS event source delivers them: up to
    /// `batch_size` (at most 10) per invocation; the messages a reply does not name in
    /// `batchItemFailures` are deleted, the ones it names are delivered again (alone)
    /// until `max_attempts`, then dead-lettered and deleted. An invocation error
    /// retries the whole batch.
    pub async fn run_sqs(&self, queue_url: &str, function: &str, batch_size: usize) {
        let queue_arn = loop {
            let reply = self
                .api
                .sqs(
                    "GetQueueAttributes",
                    json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
                )
                .await;
            match reply {
                Ok(reply) => {
                    break reply["Attributes"]["QueueArn"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                }
                Err(error) => {
                    tracing::warn!(%error, "reading the queue's attributes failed");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        };
        loop {
            // Hidden from other receivers for as long as the retries may take.
            let reply = self
                .api
                .sqs(
                    "ReceiveMessage",
                    json!({"QueueUrl": queue_url, "MaxNumberOfMessages": batch_size.clamp(1, 10),
                           "WaitTimeSeconds": 1, "VisibilityTimeout": 900,
                           "AttributeNames": ["All"], "MessageAttributeNames": ["All"]}),
                )
                .await;
            let messages = match reply {
                Ok(reply) => reply["Messages"].as_array().cloned().unwrap_or_default(),
                Err(error) => {
                    tracing::warn!(%error, "receiving from SQS failed");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            if messages.is_empty() {
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
            let records: Vec<Value> = messages
                .iter()
                .map(|m| sqs_lambda_record(m, &queue_arn))
                .collect();
            self.deliver_messages(queue_url, function, records).await;
        }
    }

    async fn deliver_messages(&self, queue_url: &str, function: &str, mut records: Vec<Value>) {
        let mut attempt = 0;
        while !records.is_empty() {
            attempt += 1;
            let event = json!({ "Records": records });
            let failed: Vec<String> = match self.invoker.invoke(function, &event).await {
                Ok(reply) => {
                    let failed: Vec<String> = reply["batchItemFailures"]
                        .as_array()
                        .map(|f| {
                            f.iter()
                                .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    tracing::info!(%function, messages = records.len(), failed = failed.len(), "delivered SQS batch");
                    failed
                }
                Err(error) => {
                    tracing::warn!(%function, attempt, %error, "SQS batch failed");
                    records
                        .iter()
                        .filter_map(|r| r["messageId"].as_str().map(str::to_owned))
                        .collect()
                }
            };
            let (retry, done): (Vec<Value>, Vec<Value>) = records.into_iter().partition(|r| {
                r["messageId"]
                    .as_str()
                    .is_some_and(|id| failed.iter().any(|f| f == id))
            });
            self.delete(queue_url, &done).await;
            records = retry;
            if records.is_empty() {
                return;
            }
            if attempt >= self.max_attempts {
                self.dead_letter(
                    function,
                    "messages still reported failed",
                    &json!({ "Records": records }),
                );
                self.delete(queue_url, &records).await;
                return;
            }
            tokio::time::sleep(Self::backoff(attempt)).await;
        }
    }

    async fn delete(&self, queue_url: &str, records: &[Value]) {
        for record in records {
            let deleted = self
                .api
                .sqs(
                    "DeleteMessage",
                    json!({"QueueUrl": queue_url, "ReceiptHandle": record["receiptHandle"]}),
                )
                .await;
            if let Err(error) = deleted {
                tracing::warn!(%error, "deleting the SQS message failed");
            }
        }
    }
}

/// An SQS `ReceiveMessage` message as Lambda's SQS event source delivers it.
pub fn sqs_lambda_record(message: &Value, queue_arn: &str) -> Value {
    json!({
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"].as_object().cloned().unwrap_or_default(),
        "messageAttributes": message["MessageAttributes"].as_object().cloned().unwrap_or_default(),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(':').nth(3).unwrap_or("us-east-1"),
    })
}
