//! The Algorithmia API key: where it comes from, and a type that never prints it.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;

use aws_config::SdkConfig;

use crate::env::{
    ALGORITHMIA_API_KEY, ALGORITHMIA_API_KEY_KMS, AWS_LAMBDA_FUNCTION_NAME, SettingsError,
    non_empty,
};

/// An API key. `Debug` and `Display` print `ApiKey(redacted)`; only
/// [`ApiKey::expose`] gives the value, for the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

/// Where the key comes from: exactly one of the two variables.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `ALGORITHMIA_API_KEY`
    Plain(ApiKey),
    /// `ALGORITHMIA_API_KEY_KMS`, base64-decoded, with the function it was read in:
    /// the Lambda console encrypts with the context `{"LambdaFunctionName": name}`.
    Kms {
        ciphertext: Vec<u8>,
        function_name: Option<String>,
    },
}

/// Why the key could not be had at cold start.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "KMS denied decrypting {ALGORITHMIA_API_KEY_KMS}: {detail}. Grant the function's role kms:Decrypt on the key that encrypted it (see docs/auth.md)"
    )]
    AccessDenied { detail: String },
    #[error(
        "KMS could not decrypt {ALGORITHMIA_API_KEY_KMS}: {detail}. Tried {tried}. Re-encrypt the key with `aws kms encrypt` or the Lambda console's encryption helper for this function (see docs/auth.md)"
    )]
    Undecryptable { detail: String, tried: String },
    #[error(
        "calling KMS to decrypt {ALGORITHMIA_API_KEY_KMS} failed: {detail}. Check the region, the network path to KMS and AWS_ENDPOINT_URL"
    )]
    Kms { detail: String },
    #[error("the key decrypted from {ALGORITHMIA_API_KEY_KMS} is not UTF-8 text")]
    NotText,
    #[error(
        "the API key in {var} holds characters not allowed in an HTTP header (a line break or control character?): set it to the key alone"
    )]
    NotHeaderSafe { var: &'static str },
}

impl KeySource {
    /// Reads `ALGORITHMIA_API_KEY` or `ALGORITHMIA_API_KEY_KMS` (exactly one), and in
    /// KMS mode `AWS_LAMBDA_FUNCTION_NAME` for the console's encryption context.
    pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        match (
            non_empty(env, ALGORITHMIA_API_KEY),
            non_empty(env, ALGORITHMIA_API_KEY_KMS),
        ) {
            (Some(_), Some(_)) => Err(SettingsError::BothApiKeys),
            (None, None) => Err(SettingsError::NoApiKey),
            (Some(key), None) => Ok(KeySource::Plain(ApiKey(key))),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map(|ciphertext| KeySource::Kms {
                    ciphertext,
                    function_name: non_empty(env, AWS_LAMBDA_FUNCTION_NAME),
                })
                .map_err(|e| {
                    SettingsError::invalid(
                        ALGORITHMIA_API_KEY_KMS,
                        "(ciphertext not shown)",
                        format!(
                            "not valid base64 ({e}): set it to the CiphertextBlob printed by `aws kms encrypt` (see docs/auth.md)"
                        ),
                    )
                }),
        }
    }

    /// The variable the key is read from, for error messages.
    pub fn variable(&self) -> &'static str {
        match self {
            KeySource::Plain(_) => ALGORITHMIA_API_KEY,
            KeySource::Kms { .. } => ALGORITHMIA_API_KEY_KMS,
        }
    }

    /// The key in plain text. In KMS mode this builds a KMS client from `aws` and
    /// decrypts: first with the Lambda console's encryption context, then with none
    /// (ciphertext made by `aws kms encrypt`). Call it once per cold start.
    pub async fn resolve(&self, aws: &SdkConfig) -> Result<ApiKey, KeyError> {
        self.resolve_with(|| aws_sdk_kms::Client::new(aws)).await
    }

    /// [`KeySource::resolve`] with the KMS client `kms` makes, called in KMS mode only.
    pub async fn resolve_with(
        &self,
        kms: impl FnOnce() -> aws_sdk_kms::Client,
    ) -> Result<ApiKey, KeyError> {
        match self {
            KeySource::Plain(key) => Ok(key.clone()),
            KeySource::Kms {
                ciphertext,
                function_name,
            } => decrypt_with_fallback(&kms(), ciphertext, function_name.as_deref()).await,
        }
    }
}

async fn decrypt_with_fallback(
    kms: &aws_sdk_kms::Client,
    ciphertext: &[u8],
    function_name: Option<&str>,
) -> Result<ApiKey, KeyError> {
    let mut tried = Vec::new();
    if let Some(name) = function_name {
        let context = HashMap::from([("LambdaFunctionName".to_owned(), name.to_owned())]);
        tried.push(format!("encryption context LambdaFunctionName={name}"));
        match decrypt(kms, ciphertext, Some(context)).await {
            Ok(key) => return Ok(key),
            Err(Attempt::WrongContext(_)) => {}
            Err(Attempt::Fatal(e)) => return Err(e),
        }
    }
    tried.push("no encryption context".to_owned());
    match decrypt(kms, ciphertext, None).await {
        Ok(key) => Ok(key),
        Err(Attempt::WrongContext(detail)) => Err(KeyError::Undecryptable {
            detail,
            tried: tried.join(", then "),
        }),
        Err(Attempt::Fatal(e)) => Err(e),
    }
}

enum Attempt {
    /// The ciphertext did not decrypt with this context; another may work.
    WrongContext(String),
    Fatal(KeyError),
}

async fn decrypt(
    kms: &aws_sdk_kms::Client,
    ciphertext: &[u8],
    context: Option<HashMap<String, String>>,
) -> Result<ApiKey, Attempt> {
    let reply = kms
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext))
        .set_encryption_context(context)
        .send()
        .await
        .map_err(classify)?;
    let plaintext = reply.plaintext.ok_or(Attempt::Fatal(KeyError::NotText))?;
    String::from_utf8(plaintext.into_inner())
        .map(|key| ApiKey(key.trim().to_owned()))
        .map_err(|_| Attempt::Fatal(KeyError::NotText))
}

fn classify(err: SdkError<DecryptError>) -> Attempt {
    let detail = match &err {
        SdkError::ServiceError(service) => service
            .err()
            .meta()
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| service.err().to_string()),
        other => DisplayErrorContext(other).to_string(),
    };
    let Some(service) = err.as_service_error() else {
        return Attempt::Fatal(KeyError::Kms { detail });
    };
    match service {
        DecryptError::InvalidCiphertextException(_) | DecryptError::IncorrectKeyException(_) => {
            Attempt::WrongContext(detail)
        }
        e if e.meta().code() == Some("AccessDeniedException") => {
            Attempt::Fatal(KeyError::AccessDenied { detail })
        }
        DecryptError::NotFoundException(_)
        | DecryptError::DisabledException(_)
        | DecryptError::KeyUnavailableException(_)
        | DecryptError::InvalidKeyUsageException(_) => {
            Attempt::Fatal(KeyError::AccessDenied { detail })
        }
        _ => Attempt::Fatal(KeyError::Kms { detail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_key() {
        let key = ApiKey::new("simSECRET123");
        assert_eq!(format!("{key:?}"), "ApiKey(redacted)");
        assert_eq!(format!("{key}"), "ApiKey(redacted)");
        let source = KeySource::Plain(key);
        assert!(!format!("{source:?}").contains("SECRET"));
    }

    #[test]
    fn exactly_one_source_must_be_set() {
        let both = |k: &str| Some(format!("value-of-{k}"));
        assert!(matches!(
            KeySource::from_env(&both),
            Err(SettingsError::BothApiKeys)
        ));
        let none = |_: &str| None;
        let err = KeySource::from_env(&none).expect_err("missing");
        assert!(err.to_string().contains(ALGORITHMIA_API_KEY_KMS));
        let bad = |k: &str| (k == ALGORITHMIA_API_KEY_KMS).then(|| "not base64!".to_owned());
        let err = KeySource::from_env(&bad).expect_err("bad base64");
        assert!(err.to_string().contains("aws kms encrypt"), "{err}");
        assert!(!err.to_string().contains("not base64!"), "{err}");
    }
}
