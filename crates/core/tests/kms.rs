//! KMS mode against a real moto server (`make test` starts it).

mod fake_api;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_kms::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept};
use aws_sdk_kms::error::BoxError;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use blueprint_core::env::{
    ALGORITHMIA_API, ALGORITHMIA_API_KEY, ALGORITHMIA_API_KEY_KMS, AWS_LAMBDA_FUNCTION_NAME,
};
use blueprint_core::{
    AlgorithmClient, AlgorithmiaSettings, ApiKey, Auth, CallOptions, Input, KeyError, KeySource,
};

const SECRET: &str = "simKMSSECRET987654";

/// Counts KMS requests made through the client it is attached to.
#[derive(Debug, Clone, Default)]
struct CallCounter(Arc<AtomicU32>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn kms() -> (aws_sdk_kms::Client, CallCounter) {
    let config = blueprint_testkit::moto_config().await;
    let counter = CallCounter::default();
    let kms_config = aws_sdk_kms::config::Builder::from(&config)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_kms::Client::from_conf(kms_config), counter)
}

async fn encrypt(kms: &aws_sdk_kms::Client, context: Option<&str>) -> String {
    encrypt_text(kms, SECRET, context).await
}

async fn encrypt_text(kms: &aws_sdk_kms::Client, text: &str, context: Option<&str>) -> String {
    let key = kms.create_key().send().await.expect("create key");
    let key_id = key.key_metadata().expect("metadata").key_id().to_owned();
    let ciphertext = kms
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(text))
        .set_encryption_context(
            context.map(|name| HashMap::from([("LambdaFunctionName".to_owned(), name.to_owned())])),
        )
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("ciphertext");
    base64::engine::general_purpose::STANDARD.encode(ciphertext.into_inner())
}

/// The key's source in API-key mode (the settings' auth mode).
trait KeySourceOf {
    fn key_source(&self) -> &KeySource;
}

impl KeySourceOf for Auth {
    fn key_source(&self) -> &KeySource {
        match self {
            Auth::ApiKey(source) => source,
            Auth::Iam { .. } => panic!("API-key mode expected: {self:?}"),
        }
    }
}

fn settings(ciphertext_b64: &str, function_name: &str, api: &str) -> AlgorithmiaSettings {
    let env = HashMap::from([
        (
            ALGORITHMIA_API_KEY_KMS.to_owned(),
            ciphertext_b64.to_owned(),
        ),
        (
            AWS_LAMBDA_FUNCTION_NAME.to_owned(),
            function_name.to_owned(),
        ),
        (ALGORITHMIA_API.to_owned(), api.to_owned()),
    ]);
    AlgorithmiaSettings::from_env(|k| env.get(k).cloned()).expect("settings")
}

#[tokio::test]
async fn console_ciphertext_with_context_decrypts_in_one_call() {
    let (kms, counter) = kms().await;
    let ciphertext = encrypt(&kms, Some("thumbs-fn")).await;
    let before = counter.0.load(Ordering::SeqCst);
    let key = settings(&ciphertext, "thumbs-fn", "http://127.0.0.1:9")
        .auth
        .key_source()
        .resolve_with(|| kms.clone())
        .await
        .expect("decrypts");
    assert_eq!(key.expose(), SECRET);
    assert_eq!(
        counter.0.load(Ordering::SeqCst) - before,
        1,
        "one Decrypt call"
    );
}

#[tokio::test]
async fn cli_ciphertext_without_context_decrypts_on_the_second_try() {
    let (kms, counter) = kms().await;
    let ciphertext = encrypt(&kms, None).await;
    let before = counter.0.load(Ordering::SeqCst);
    let key = settings(&ciphertext, "thumbs-fn", "http://127.0.0.1:9")
        .auth
        .key_source()
        .resolve_with(|| kms.clone())
        .await
        .expect("decrypts");
    assert_eq!(key.expose(), SECRET);
    assert_eq!(
        counter.0.load(Ordering::SeqCst) - before,
        2,
        "with context, then without"
    );
}

#[tokio::test]
async fn a_wrong_context_fails_with_a_clear_message() {
    let (kms, _) = kms().await;
    let ciphertext = encrypt(&kms, Some("other-fn")).await;
    let err = settings(&ciphertext, "thumbs-fn", "http://127.0.0.1:9")
        .auth
        .key_source()
        .resolve_with(|| kms.clone())
        .await
        .expect_err("wrong context");
    assert!(matches!(err, KeyError::Undecryptable { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(ALGORITHMIA_API_KEY_KMS), "{message}");
    assert!(
        message.contains("LambdaFunctionName=thumbs-fn"),
        "{message}"
    );
    assert!(message.contains("no encryption context"), "{message}");
    assert!(!message.contains(SECRET));
}

#[tokio::test]
async fn corrupted_ciphertext_fails_with_a_clear_message() {
    let (kms, _) = kms().await;
    let ciphertext = encrypt(&kms, None).await;
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(ciphertext)
        .expect("b64");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    bytes[10] ^= 0xff;
    let source = KeySource::Kms {
        ciphertext: bytes,
        function_name: None,
    };
    let err = source
        .resolve_with(|| kms.clone())
        .await
        .expect_err("corrupt");
    let message = err.to_string();
    assert!(message.contains(ALGORITHMIA_API_KEY_KMS), "{message}");
    assert!(message.contains("docs/auth.md"), "{message}");
}

#[tokio::test]
async fn kms_is_called_once_however_many_invocations_follow() {
    let (kms, counter) = kms().await;
    let api = fake_api::start().await;
    let ciphertext = encrypt_text(&kms, fake_api::KEY, Some("thumbs-fn")).await;
    let settings = settings(&ciphertext, "thumbs-fn", &api.url);
    let before = counter.0.load(Ordering::SeqCst);

    // The cold start: the key once; the client holds no KMS client at all.
    let key = settings
        .auth
        .key_source()
        .resolve_with(|| kms.clone())
        .await
        .expect("decrypts");
    let client = AlgorithmClient::new(&settings, key).expect("client");
    assert_eq!(counter.0.load(Ordering::SeqCst) - before, 1);
    for _ in 0..10 {
        client
            .call(
                &"test/Echo".parse().expect("path"),
                Input::Text("invocation".into()),
                &CallOptions::default(),
            )
            .await
            .expect("the server accepts the decrypted key");
    }
    assert_eq!(
        counter.0.load(Ordering::SeqCst) - before,
        1,
        "no KMS call per invocation"
    );
}

#[tokio::test]
async fn connect_decrypts_through_the_shared_aws_config() {
    let (kms, _) = kms().await;
    let api = fake_api::start().await;
    let ciphertext = encrypt_text(&kms, fake_api::KEY, Some("thumbs-fn")).await;
    let aws = blueprint_testkit::moto_config().await;
    let client = AlgorithmClient::connect(&settings(&ciphertext, "thumbs-fn", &api.url), &aws)
        .await
        .expect("connect");
    client
        .call(
            &"test/Echo".parse().expect("path"),
            Input::Text("cold start done".into()),
            &CallOptions::default(),
        )
        .await
        .expect("the server accepts the decrypted key");
}

#[tokio::test]
async fn plain_mode_never_builds_a_kms_client() {
    let env = HashMap::from([(ALGORITHMIA_API_KEY.to_owned(), SECRET.to_owned())]);
    let settings = AlgorithmiaSettings::from_env(|k| env.get(k).cloned()).expect("settings");
    let key = settings
        .auth
        .key_source()
        .resolve_with(|| panic!("a KMS client was built in plain-key mode"))
        .await
        .expect("plain key");
    assert_eq!(key.expose(), SECRET);
}

#[tokio::test]
async fn a_key_that_cannot_be_a_header_fails_the_cold_start_naming_the_variable() {
    let env = HashMap::from([(ALGORITHMIA_API_KEY.to_owned(), "simLINE\nBREAK".to_owned())]);
    let settings = AlgorithmiaSettings::from_env(|k| env.get(k).cloned()).expect("settings");
    let aws = blueprint_testkit::moto_config().await;
    let err = AlgorithmClient::connect(&settings, &aws)
        .await
        .expect_err("a control character in the key");
    let message = err.to_string();
    assert!(message.contains(ALGORITHMIA_API_KEY), "{message}");
    assert!(!message.contains("simLINE"), "{message}");
    assert!(AlgorithmClient::new(&settings, ApiKey::new("simOK")).is_ok());
}
