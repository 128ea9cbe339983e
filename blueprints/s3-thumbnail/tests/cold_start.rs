//! The real binary's cold start: a failure prints the message that names the setting
//! and the fix (`Display`), never `Error: Key(AccessDenied { .. })`. Needs moto (KMS).

use std::path::Path;

#[tokio::test]
async fn a_failed_cold_start_prints_what_to_fix() {
    blueprint_testkit::assert_cold_start_messages(
        Path::new(env!("CARGO_BIN_EXE_s3-thumbnail")),
        &[],
        ("THUMBNAIL_SIZES", "0x0"),
        "Error: THUMBNAIL_SIZES is \"0x0\": \"0x0\": each side must be 1..=4096",
    )
    .await;
}
