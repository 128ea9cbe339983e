//! The enriched records and their writer: `PutRecords` to the output stream, retrying
//! only the entries that failed, with each partition key's records in source order.
//!
//! Kinesis does not order the entries of one `PutRecords` call (a failed entry
//! retried lands after the ones that followed it), so a call carries at most one
//! entry per partition key: the next record of a key is sent once the one before it
//! is written. A key whose record cannot be written holds its later records back.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client as Kinesis;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, PutRecordsResultEntry};
use blueprint_core::v1::contracts::predict::Prediction;
use serde::Serialize;

use crate::features::Source;
use crate::settings::PUT_RECORDS_LIMIT;

/// The most bytes (data and partition keys) one `PutRecords` call takes.
const PUT_RECORDS_BYTES: usize = 5 << 20;

/// One prediction as it is written to the output stream (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct EnrichedRecord<'a> {
    /// The source record: stream, shard, sequence number and partition key. A
    /// consumer drops an output whose source sequence number it has seen.
    pub source: &'a Source,
    pub input_fingerprint: &'a str,
    pub prediction: &'a Prediction,
    /// `name/version` of the model that made the prediction.
    pub model: &'a str,
    /// When the prediction was made (RFC 3339, UTC).
    pub predicted_at: &'a str,
}

/// One record for the output stream: its partition key and data.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub partition_key: String,
    pub data: Vec<u8>,
}

/// Where an entry went (`stream/shard/sequence`), or why it did not.
pub type Written = Result<String, String>;

pub struct OutputWriter<'a> {
    pub kinesis: &'a Kinesis,
    /// A stream name or ARN.
    pub stream: &'a str,
    /// `PutRecords` calls per entry (the first and its retries).
    pub max_attempts: u32,
    /// The pause before the first retry; it doubles with each (up to 2 s).
    pub backoff: Duration,
}

impl OutputWriter<'_> {
    /// Writes every entry; results in entry order, and the number of calls made.
    pub async fn write_all(&self, entries: &[Entry], deadline: Instant) -> (Vec<Written>, usize) {
        let mut results: Vec<Option<Written>> = vec![None; entries.len()];
        let mut attempts = vec![0u32; entries.len()];
        // Each partition key's entries in order, keys in order of first appearance.
        let mut keys: Vec<&str> = Vec::new();
        let mut queues: HashMap<&str, VecDeque<usize>> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let key = entry.partition_key.as_str();
            queues
                .entry(key)
                .or_insert_with(|| {
                    keys.push(key);
                    VecDeque::new()
                })
                .push_back(index);
        }
        let mut calls = 0;
        let mut retry = 0u32;
        loop {
            let wave = self.wave(entries, &keys, &queues);
            if wave.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for &index in &wave {
                    give_up(
                        &mut results,
                        &mut queues,
                        entries,
                        index,
                        "the invocation ran out of time before the record was written".into(),
                    );
                }
                continue;
            }
            calls += 1;
            let replies = self.put(entries, &wave).await;
            let mut retrying = false;
            for (&index, reply) in wave.iter().zip(replies) {
                attempts[index] += 1;
                match reply {
                    Ok(written) => {
                        results[index] = Some(Ok(written));
                        if let Some(queue) = queues.get_mut(entries[index].partition_key.as_str()) {
                            queue.pop_front();
                        }
                    }
                    Err(error) if attempts[index] < self.max_attempts => {
                        tracing::warn!(partition_key = %entries[index].partition_key, attempt = attempts[index], %error, "PutRecords entry failed: retrying it");
                        retrying = true;
                    }
                    Err(error) => give_up(&mut results, &mut queues, entries, index, error),
                }
            }
            if retrying {
                let pause = self.backoff.saturating_mul(1 << retry.min(5));
                retry += 1;
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(Duration::from_secs(2)).min(left)).await;
            }
        }
        let results = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err("the record was not written".into())))
            .collect();
        (results, calls)
    }

    /// The next call's entries: the first unwritten entry of each key, within the
    /// limits of one `PutRecords` call.
    fn wave(
        &self,
        entries: &[Entry],
        keys: &[&str],
        queues: &HashMap<&str, VecDeque<usize>>,
    ) -> Vec<usize> {
        let mut wave = Vec::new();
        let mut bytes = 0;
        for key in keys {
            let Some(&index) = queues.get(key).and_then(VecDeque::front) else {
                continue;
            };
            let size = entries[index].data.len() + key.len();
            if wave.len() == PUT_RECORDS_LIMIT
                || (!wave.is_empty() && bytes + size > PUT_RECORDS_BYTES)
            {
                break;
            }
            bytes += size;
            wave.push(index);
        }
        wave
    }

    /// One `PutRecords` call; a result per entry of `wave`.
    async fn put(&self, entries: &[Entry], wave: &[usize]) -> Vec<Written> {
        let mut request = self.kinesis.put_records();
        request = if self.stream.starts_with("arn:") {
            request.stream_arn(self.stream)
        } else {
            request.stream_name(self.stream)
        };
        for &index in wave {
            let entry = &entries[index];
            let built = PutRecordsRequestEntry::builder()
                .partition_key(&entry.partition_key)
                .data(Blob::new(entry.data.clone()))
                .build();
            match built {
                Ok(built) => request = request.records(built),
                Err(e) => return vec![Err(e.to_string()); wave.len()],
            }
        }
        match request.send().await {
            Ok(output) if output.records().len() == wave.len() => output
                .records()
                .iter()
                .map(|entry| self.written(entry))
                .collect(),
            Ok(output) => vec![
                Err(format!(
                    "PutRecords answered {} entries for {} records",
                    output.records().len(),
                    wave.len()
                ));
                wave.len()
            ],
            Err(error) => {
                let error = format!(
                    "PutRecords to OUTPUT_STREAM {}: {}",
                    self.stream,
                    DisplayErrorContext(&error)
                );
                vec![Err(error); wave.len()]
            }
        }
    }

    fn written(&self, entry: &PutRecordsResultEntry) -> Written {
        match (entry.error_code(), entry.sequence_number()) {
            (None, Some(sequence)) => Ok(format!(
                "{}/{}/{sequence}",
                crate::settings::stream_name(self.stream),
                entry.shard_id().unwrap_or_default()
            )),
            (code, _) => Err(format!(
                "PutRecords entry failed: {}: {}",
                code.unwrap_or("no sequence number"),
                entry.error_message().unwrap_or_default()
            )),
        }
    }
}

/// The entry failed for good: so do the later entries of its key, held back to keep
/// the key's order (the source's retry writes them in order).
fn give_up(
    results: &mut [Option<Written>],
    queues: &mut HashMap<&str, VecDeque<usize>>,
    entries: &[Entry],
    index: usize,
    error: String,
) {
    let key = entries[index].partition_key.as_str();
    let Some(queue) = queues.get_mut(key) else {
        return;
    };
    for later in queue.drain(..) {
        results[later] = Some(Err(if later == index {
            error.clone()
        } else {
            format!(
                "held back to keep the order of partition key {key:?}: an earlier record of it failed: {error}"
            )
        }));
    }
}
