//! The Algorithmia API key: where it comes from, and a type that never prints it.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;

use crate::settings::{ALGORITHMIA_API_KEY, ALGORITHMIA_API_KEY_KMS, non_empty};

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
    /// `ALGORITHMIA_API_KEY_KMS`, base64-decoded.
    Kms { ciphertext: Vec<u8> },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no API key: set {ALGORITHMIA_API_KEY} to the key, or {ALGORITHMIA_API_KEY_KMS} to its base64 KMS ciphertext (see docs/auth.md)"
    )]
    Missing,
    #[error(
        "both {ALGORITHMIA_API_KEY} and {ALGORITHMIA_API_KEY_KMS} are set: keep exactly one (remove the plain key when using KMS)"
    )]
    BothSet,
    #[error(
        "{ALGORITHMIA_API_KEY_KMS} is not valid base64 ({0}): set it to the CiphertextBlob printed by `aws kms encrypt` (see docs/auth.md)"
    )]
    BadBase64(String),
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
}

impl KeySource {
    pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Self, KeyError> {
        match (
            non_empty(env, ALGORITHMIA_API_KEY),
            non_empty(env, ALGORITHMIA_API_KEY_KMS),
        ) {
            (Some(_), Some(_)) => Err(KeyError::BothSet),
            (None, None) => Err(KeyError::Missing),
            (Some(key), None) => Ok(KeySource::Plain(ApiKey(key))),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map(|ciphertext| KeySource::Kms { ciphertext })
                .map_err(|e| KeyError::BadBase64(e.to_string())),
        }
    }

    /// The key in plain text. In KMS mode this calls KMS: first with the Lambda
    /// console's encryption context `{"LambdaFunctionName": function_name}`, then
    /// with none (ciphertext made by `aws kms encrypt`). Call it once per cold start.
    pub async fn resolve(
        &self,
        kms: &aws_sdk_kms::Client,
        function_name: Option<&str>,
    ) -> Result<ApiKey, KeyError> {
        let ciphertext = match self {
            KeySource::Plain(key) => return Ok(key.clone()),
            KeySource::Kms { ciphertext } => ciphertext,
        };
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
        assert!(matches!(KeySource::from_env(&both), Err(KeyError::BothSet)));
        let none = |_: &str| None;
        let err = KeySource::from_env(&none).expect_err("missing");
        assert!(err.to_string().contains(ALGORITHMIA_API_KEY_KMS));
        let bad = |k: &str| (k == ALGORITHMIA_API_KEY_KMS).then(|| "not base64!".to_owned());
        let err = KeySource::from_env(&bad).expect_err("bad base64");
        assert!(err.to_string().contains("aws kms encrypt"), "{err}");
    }
}
