//! How a call says who sends it: `Authorization: Simple <key>` (API-key mode), or a
//! SigV4 signature made by the SDK's own signer, afresh for every attempt, with the
//! credentials the AWS config's provider gives at that moment (IAM mode).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::{AlgorithmError, error_chain};
use crate::env::{
    ALGORITHMIA_API, ALGORITHMIA_API_KEY, ALGORITHMIA_API_KEY_KMS, ALGORITHMIA_AUTH, AUTH_IAM,
    AWS_REGION,
};

/// The service a Lambda Function URL with `AuthType: AWS_IAM` checks signatures for.
pub const SIGNING_SERVICE: &str = "lambda";

#[derive(Debug, Clone)]
pub(crate) enum Authorizer {
    /// `Simple <key>`, checked once at start and marked sensitive (never logged).
    Key(HeaderValue),
    Iam(IamSigner),
}

impl Authorizer {
    /// Adds the proof to `request`, whose body is `body`.
    pub(crate) async fn apply(
        &self,
        request: &mut reqwest::Request,
        body: &[u8],
        algorithm: &str,
    ) -> Result<(), AlgorithmError> {
        match self {
            Authorizer::Key(value) => {
                request.headers_mut().insert(AUTHORIZATION, value.clone());
                Ok(())
            }
            Authorizer::Iam(signer) => signer.sign(request, body, algorithm).await,
        }
    }

    /// What to check when the API answers 401 or 403, for the error message.
    pub(crate) fn refusal_advice(&self) -> String {
        match self {
            Authorizer::Key(_) => format!(
                "Check {ALGORITHMIA_API_KEY} or {ALGORITHMIA_API_KEY_KMS}, and that the key may call this algorithm"
            ),
            Authorizer::Iam(_) => format!(
                "{ALGORITHMIA_AUTH} is {AUTH_IAM}: check that the function's role may lambda:InvokeFunctionUrl on the algo-server function, that {ALGORITHMIA_API} is its Function URL and {AWS_REGION} its region (see docs/auth.md)"
            ),
        }
    }
}

/// Signs calls for the service `lambda` in one region. It keeps no credentials: it
/// asks its provider for them on every call, so rotated role credentials are used as
/// soon as the provider has them.
#[derive(Clone)]
pub struct IamSigner {
    credentials: SharedCredentialsProvider,
    region: Arc<str>,
}

impl fmt::Debug for IamSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamSigner")
            .field("service", &SIGNING_SERVICE)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl IamSigner {
    pub fn new(credentials: SharedCredentialsProvider, region: &str) -> Self {
        Self {
            credentials,
            region: region.into(),
        }
    }

    /// Signs the method, the URL with its query, the host, the headers already on
    /// `request`, and `body` (its SHA-256 goes in `x-amz-content-sha256`, which Function
    /// URLs require); adds `authorization`, `x-amz-date` and, with temporary
    /// credentials, `x-amz-security-token`.
    async fn sign(
        &self,
        request: &mut reqwest::Request,
        body: &[u8],
        algorithm: &str,
    ) -> Result<(), AlgorithmError> {
        let failed = |detail: String, retryable: bool| AlgorithmError::Signing {
            algorithm: algorithm.to_owned(),
            detail,
            retryable,
        };
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            let transient = matches!(
                e,
                CredentialsError::ProviderTimedOut(_) | CredentialsError::ProviderError(_)
            );
            failed(format!("no credentials: {}", error_chain(&e)), transient)
        })?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SIGNING_SERVICE)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| failed(e.to_string(), false))?
            .into();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.url().as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(error_chain(&e), false))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| failed(error_chain(&e), false))?
            .into_parts();
        for header in instructions.into_parts().0 {
            let name = HeaderName::from_bytes(header.name().as_bytes())
                .map_err(|e| failed(e.to_string(), false))?;
            // Never the value in the message: it may be the session token.
            let mut value = HeaderValue::from_str(header.value())
                .map_err(|_| failed(format!("the signer's {name} is not a header value"), false))?;
            value.set_sensitive(header.sensitive() || name == AUTHORIZATION);
            request.headers_mut().insert(name, value);
        }
        Ok(())
    }
}
