//! The sample events under blueprints/s3-transcribe/events decode as S3 means them.

use blueprint_core::s3_event::S3Notification;
use blueprint_testkit::workspace_root;

fn load(name: &str) -> S3Notification {
    let path = workspace_root()
        .join("blueprints/s3-transcribe/events")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("sample event");
    S3Notification::parse(serde_json::from_str(&text).expect("JSON")).expect("S3 event")
}

fn keys(notification: S3Notification) -> Vec<String> {
    match notification {
        S3Notification::Records(records) => records.into_iter().map(|r| r.key).collect(),
        S3Notification::Test => vec![],
    }
}

#[test]
fn sample_event_keys_decode() {
    assert_eq!(
        keys(load("put-video.json")),
        ["media/team meeting (2026).mp4"]
    );
    assert_eq!(
        keys(load("async-result.json")),
        [
            "transcripts/.pending/my-stack-123456789012-media/media/team meeting (2026).mp4.9b2cf535f27731c974343645a3985328.json"
        ]
    );
    assert_eq!(load("s3-test-event.json"), S3Notification::Test);
}

#[test]
fn the_schedules_sweep_event_is_recognised() {
    let path = workspace_root().join("blueprints/s3-transcribe/events/sweep-async-jobs.json");
    let text = std::fs::read_to_string(&path).expect("sample event");
    let payload: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let sweep = s3_transcribe::SweepEvent::recognise(&payload, None)
        .expect("a sweep")
        .expect("valid");
    assert_eq!(sweep.bucket, "my-stack-123456789012-media");
    assert!(S3Notification::parse(payload).is_err(), "not an S3 event");
}
