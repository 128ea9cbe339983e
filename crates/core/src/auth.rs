//! [`Auth`]: how calls to the algorithm API prove who sends them, chosen by
//! `ALGORITHMIA_AUTH` once per cold start.

use crate::api_key::KeySource;
use crate::env::{
    ALGORITHMIA_API_KEY, ALGORITHMIA_API_KEY_KMS, ALGORITHMIA_AUTH, AUTH_API_KEY, AUTH_IAM,
    AWS_REGION, SettingsError, non_empty,
};

/// The auth mode and what it needs. Holds no secret: the API key is resolved (and KMS
/// called) by the client at cold start, IAM credentials come from the AWS config's
/// provider on every call.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `ALGORITHMIA_AUTH=api-key` (the default): `Authorization: Simple <key>`.
    ApiKey(KeySource),
    /// `ALGORITHMIA_AUTH=iam`: each call signed with SigV4 for the service `lambda` in
    /// `region` (from `AWS_REGION`), for a Function URL with `AuthType: AWS_IAM`.
    Iam { region: String },
}

impl Auth {
    /// Reads `ALGORITHMIA_AUTH`, then what the mode needs: the key settings (see
    /// [`KeySource::from_env`]), or `AWS_REGION` and no key setting at all.
    pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mode = non_empty(env, ALGORITHMIA_AUTH).unwrap_or_else(|| AUTH_API_KEY.to_owned());
        if mode.eq_ignore_ascii_case(AUTH_API_KEY) {
            KeySource::from_env(env).map(Auth::ApiKey)
        } else if mode.eq_ignore_ascii_case(AUTH_IAM) {
            Self::iam_from_env(env)
        } else {
            Err(SettingsError::invalid(
                ALGORITHMIA_AUTH,
                mode,
                format!(
                    "must be {AUTH_API_KEY} (the default: send {ALGORITHMIA_API_KEY} or {ALGORITHMIA_API_KEY_KMS}) or {AUTH_IAM} (sign calls with the function's role, for an algo-server behind a Function URL with AuthType AWS_IAM; see docs/auth.md)"
                ),
            ))
        }
    }

    fn iam_from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let keys: Vec<&str> = [ALGORITHMIA_API_KEY, ALGORITHMIA_API_KEY_KMS]
            .into_iter()
            .filter(|var| non_empty(env, var).is_some())
            .collect();
        if !keys.is_empty() {
            return Err(SettingsError::ApiKeyWithIam {
                vars: keys.join(", "),
            });
        }
        let region = non_empty(env, AWS_REGION).ok_or_else(|| SettingsError::Missing {
            var: AWS_REGION,
            problem: format!(
                "{ALGORITHMIA_AUTH}={AUTH_IAM} signs each call for the algo-server function's region; Lambda sets it, elsewhere set it to that region"
            ),
        })?;
        Ok(Auth::Iam { region })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn api_key_is_the_default_and_can_be_named() {
        for mode in [None, Some("api-key"), Some(" API-KEY ")] {
            let mut pairs = vec![(ALGORITHMIA_API_KEY, "simXYZ")];
            pairs.extend(mode.map(|m| (ALGORITHMIA_AUTH, m)));
            let auth = Auth::from_env(&env_of(&pairs)).expect("valid");
            assert!(
                matches!(auth, Auth::ApiKey(KeySource::Plain(_))),
                "{mode:?}"
            );
        }
        let err = Auth::from_env(&env_of(&[(ALGORITHMIA_AUTH, "api-key")])).expect_err("no key");
        assert!(matches!(err, SettingsError::NoApiKey), "{err}");
        assert!(
            err.to_string().contains("ALGORITHMIA_AUTH=iam"),
            "the missing key names the other mode: {err}"
        );
    }

    #[test]
    fn iam_needs_the_region_and_no_key() {
        let auth = Auth::from_env(&env_of(&[
            (ALGORITHMIA_AUTH, "iam"),
            (AWS_REGION, "eu-west-1"),
        ]))
        .expect("valid");
        let Auth::Iam { region } = auth else {
            panic!("IAM mode: {auth:?}")
        };
        assert_eq!(region, "eu-west-1");

        let err = Auth::from_env(&env_of(&[(ALGORITHMIA_AUTH, "IAM")])).expect_err("no region");
        assert_eq!(
            err.to_string(),
            "AWS_REGION is not set: ALGORITHMIA_AUTH=iam signs each call for the algo-server \
             function's region; Lambda sets it, elsewhere set it to that region"
        );
    }

    #[test]
    fn iam_with_a_key_setting_names_the_settings_not_the_key() {
        let err = Auth::from_env(&env_of(&[
            (ALGORITHMIA_AUTH, "iam"),
            (AWS_REGION, "us-east-1"),
            (ALGORITHMIA_API_KEY, "simSECRET"),
        ]))
        .expect_err("key with IAM");
        let message = err.to_string();
        assert!(
            message.starts_with(
                "ALGORITHMIA_AUTH is iam, which signs calls with the function's role and sends \
                 no API key, but an API key is set too (ALGORITHMIA_API_KEY): remove it, or set \
                 ALGORITHMIA_AUTH=api-key"
            ),
            "{message}"
        );
        assert!(!message.contains("simSECRET"), "{message}");

        let err = Auth::from_env(&env_of(&[
            (ALGORITHMIA_AUTH, "iam"),
            (ALGORITHMIA_API_KEY, "k"),
            (ALGORITHMIA_API_KEY_KMS, "AAEC"),
        ]))
        .expect_err("keys with IAM");
        assert!(
            err.to_string()
                .contains("(ALGORITHMIA_API_KEY, ALGORITHMIA_API_KEY_KMS)"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_mode_names_the_setting_and_the_choices() {
        let err = Auth::from_env(&env_of(&[
            (ALGORITHMIA_AUTH, "sigv4"),
            (ALGORITHMIA_API_KEY, "k"),
        ]))
        .expect_err("unknown mode");
        let message = err.to_string();
        assert!(
            message.starts_with("ALGORITHMIA_AUTH is \"sigv4\": must be api-key (the default"),
            "{message}"
        );
        assert!(message.contains("or iam (sign calls"), "{message}");
    }
}
