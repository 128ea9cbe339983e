//! A blueprint binary's cold start, run as Lambda runs it: a process with only the
//! environment given, whose failure must print the error's message.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use base64::Engine;

use crate::moto_endpoint;

/// Runs `bin` with exactly `env` (plus `PATH`, and no Runtime API to reach), expects it
/// to exit with an error within 60 s, and returns what it printed (stderr, then stdout).
pub fn failed_cold_start(bin: &Path, env: &[(&str, &str)]) -> String {
    assert!(bin.exists(), "{} is missing", bin.display());
    let mut child = Command::new(bin)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not exit within 60 s", bin.display());
            }
        }
    }
    let output = child.wait_with_output().expect("output");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        !output.status.success(),
        "{} started although it should not: {printed}",
        bin.display()
    );
    printed
}

/// The environment of a function reaching moto: region, dummy credentials, endpoint.
pub fn moto_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ENDPOINT_URL", moto_endpoint()),
    ]
}

/// `text` encrypted under a new moto KMS key with the Lambda console's encryption
/// context for `function` (or none), base64 as `ALGORITHMIA_API_KEY_KMS` takes it.
pub async fn kms_ciphertext(text: &str, function: Option<&str>) -> String {
    let config = crate::moto_config().await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key = kms.create_key().send().await.expect("create key");
    let key_id = key.key_metadata().expect("metadata").key_id().to_owned();
    let ciphertext = kms
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(text))
        .set_encryption_context(
            function
                .map(|name| HashMap::from([("LambdaFunctionName".to_owned(), name.to_owned())])),
        )
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("ciphertext");
    base64::engine::general_purpose::STANDARD.encode(ciphertext.into_inner())
}

/// The three cold-start failures every blueprint must explain in words: no key, a KMS
/// key that does not decrypt for this function, and `bad` (a setting with a bad value,
/// `(variable, value)`). Each printed message must contain its `want`, never a `Debug`
/// rendering of the error.
pub async fn assert_cold_start_messages(
    bin: &Path,
    base: &[(&str, &str)],
    bad: (&str, &str),
    bad_want: &str,
) {
    let moto = moto_env();
    let mut env: Vec<(&str, &str)> = moto.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(base);

    let printed = failed_cold_start(bin, &env);
    assert_message(
        &printed,
        "Error: no API key: set ALGORITHMIA_API_KEY to the key, or ALGORITHMIA_API_KEY_KMS",
    );

    // Encrypted in the console for another function: neither context decrypts it.
    let ciphertext = kms_ciphertext("simSECRETKEY", Some("another-function")).await;
    let mut kms_env = env.clone();
    kms_env.push(("ALGORITHMIA_API_KEY_KMS", &ciphertext));
    kms_env.push(("AWS_LAMBDA_FUNCTION_NAME", "this-function"));
    let printed = failed_cold_start(bin, &kms_env);
    assert_message(
        &printed,
        "Error: KMS could not decrypt ALGORITHMIA_API_KEY_KMS: ",
    );
    assert!(
        printed.contains(
            "Tried encryption context LambdaFunctionName=this-function, then no encryption context"
        ),
        "{printed}"
    );
    assert!(!printed.contains("simSECRETKEY"), "{printed}");

    let mut bad_env = env.clone();
    bad_env.push(("ALGORITHMIA_API_KEY", "simSECRETKEY"));
    bad_env.push(bad);
    let printed = failed_cold_start(bin, &bad_env);
    assert_message(&printed, bad_want);
    assert!(!printed.contains("simSECRETKEY"), "{printed}");
}

/// `printed` holds `want` and no `Debug` rendering of an error (`Variant { .. }`).
pub fn assert_message(printed: &str, want: &str) {
    assert!(printed.contains(want), "want {want:?} in:\n{printed}");
    for debug in [
        "Key(",
        "Settings(",
        "Invalid {",
        "Missing {",
        "Undecryptable {",
        "Client(",
        "Model(",
    ] {
        assert!(
            !printed.contains(debug),
            "a Debug rendering ({debug}) in:\n{printed}"
        );
    }
}
