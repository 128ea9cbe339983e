//! The real binary's cold start: a failure prints the message that names the setting
//! and the fix (`Display`), never `Error: Key(AccessDenied { .. })`. Needs moto (KMS)
//! and `algo-server` with the models `make models` trained: the bad setting is a
//! `FEATURES` list that does not fit `MODEL`, found at cold start by asking the server.

use std::path::Path;

use blueprint_testkit::AlgoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_cold_start_prints_what_to_fix() {
    let server = AlgoServer::start(&[]);
    blueprint_testkit::assert_cold_start_messages(
        Path::new(env!("CARGO_BIN_EXE_kinesis-predict")),
        &[
            ("ALGORITHMIA_API", &server.url),
            ("MODEL", "breast-cancer/1.0.0"),
            ("FEATURES", "f0"),
            ("OUTPUT_STREAM", "predictions"),
        ],
        ("MAX_BATCH_SIZE", "100"),
        "Error: FEATURES lists 1 fields, but MODEL \"breast-cancer/1.0.0\" (breast-cancer/1.0.0) takes 30 features, in this order: mean_radius,",
    )
    .await;
}
