//! The `local-trigger` command line: mistakes are refused at start with what to give.
//! (Delivery itself is tested end to end by the workspace's `tests/` crate, which runs
//! this binary.)

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_local-trigger"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run local-trigger");
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn nothing_to_deliver_is_refused_naming_the_flags() {
    let (code, text) = run(&["--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("--s3-queue QUEUE_URL=FUNCTION")
            && text.contains("--dynamodb-stream STREAM_ARN=FUNCTION")
            && text.contains("--kinesis-stream STREAM_ARN=FUNCTION")
            && text.contains("--sqs-queue QUEUE_URL=FUNCTION"),
        "{text}"
    );
}

#[test]
fn a_source_without_a_function_is_refused() {
    let (code, text) = run(&[
        "--endpoint",
        "http://127.0.0.1:9",
        "--s3-queue",
        "http://127.0.0.1:9/queue/q",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not SOURCE=FUNCTION"), "{text}");
}

#[test]
fn the_endpoint_is_required() {
    let (code, text) = run(&["--s3-queue", "q=f"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--endpoint"), "{text}");
}
