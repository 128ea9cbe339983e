//! What goes into an algorithm call and what comes out.

use base64::Engine;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::v1::{ContentType, Metadata, mime};

use super::AlgorithmError;

/// An algorithm's input; its kind decides the request's `Content-Type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Json(Value),
    Text(String),
    Bytes(Vec<u8>),
}

impl Input {
    /// Any `Serialize` value as JSON input.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, AlgorithmError> {
        serde_json::to_value(value)
            .map(Input::Json)
            .map_err(|e| AlgorithmError::Encode(e.to_string()))
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Input::Json(_) => mime::JSON,
            Input::Text(_) => mime::TEXT,
            Input::Bytes(_) => mime::BINARY,
        }
    }

    pub(crate) fn into_body(self) -> Result<Vec<u8>, AlgorithmError> {
        match self {
            Input::Json(value) => {
                serde_json::to_vec(&value).map_err(|e| AlgorithmError::Encode(e.to_string()))
            }
            Input::Text(text) => Ok(text.into_bytes()),
            Input::Bytes(bytes) => Ok(bytes),
        }
    }
}

/// An algorithm's result, read according to `metadata.content_type`.
#[derive(Debug, Clone, PartialEq)]
pub enum AlgoOutput {
    Json(Value),
    Text(String),
    /// Decoded from the base64 of a `binary` result.
    Bytes(Vec<u8>),
    Void,
}

/// A successful call: the result and the metadata the API sent with it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlgoResponse {
    pub output: AlgoOutput,
    pub metadata: Metadata,
}

impl AlgoResponse {
    pub(crate) fn from_envelope(
        algorithm: &str,
        result: Value,
        metadata: Metadata,
    ) -> Result<Self, AlgorithmError> {
        let protocol = |detail: String| AlgorithmError::Protocol {
            algorithm: algorithm.to_owned(),
            status: 200,
            detail,
        };
        let output = match metadata.content_type {
            ContentType::Json => AlgoOutput::Json(result),
            ContentType::Void => AlgoOutput::Void,
            ContentType::Text => match result {
                Value::String(text) => AlgoOutput::Text(text),
                other => return Err(protocol(format!("text result is not a string: {other}"))),
            },
            ContentType::Binary => {
                let Value::String(b64) = result else {
                    return Err(protocol("binary result is not a base64 string".into()));
                };
                base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map(AlgoOutput::Bytes)
                    .map_err(|e| protocol(format!("binary result is not valid base64: {e}")))?
            }
        };
        Ok(Self { output, metadata })
    }

    /// The result decoded into the caller's type. A text result decodes as a JSON
    /// string; bytes and void are an error.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, AlgorithmError> {
        let value = match &self.output {
            AlgoOutput::Json(value) => value.clone(),
            AlgoOutput::Text(text) => Value::String(text.clone()),
            AlgoOutput::Bytes(_) | AlgoOutput::Void => {
                return Err(AlgorithmError::Decode {
                    expected: std::any::type_name::<T>(),
                    detail: format!("the result is {:?}, not JSON", self.metadata.content_type),
                });
            }
        };
        serde_json::from_value(value).map_err(|e| AlgorithmError::Decode {
            expected: std::any::type_name::<T>(),
            detail: e.to_string(),
        })
    }

    /// The result as bytes: binary results as they are, text as UTF-8, and a JSON
    /// string holding base64 (as `opencv/SmartThumbnail` returns) decoded.
    pub fn into_bytes(self) -> Result<Vec<u8>, AlgorithmError> {
        match self.output {
            AlgoOutput::Bytes(bytes) => Ok(bytes),
            AlgoOutput::Text(text) => Ok(text.into_bytes()),
            AlgoOutput::Json(Value::String(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| AlgorithmError::Decode {
                    expected: "bytes",
                    detail: format!("a JSON string result is not base64: {e}"),
                }),
            other => Err(AlgorithmError::Decode {
                expected: "bytes",
                detail: format!("the result is {other:?}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_results_are_decoded_from_base64() {
        let response = AlgoResponse::from_envelope(
            "a/b",
            json!("AAEC/w=="),
            Metadata::new(ContentType::Binary, 0.1),
        )
        .expect("valid");
        assert_eq!(response.into_bytes().expect("bytes"), vec![0, 1, 2, 255]);
    }

    #[test]
    fn decode_names_the_expected_type_on_mismatch() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Faces {
            faces: Vec<u32>,
        }
        let response = AlgoResponse {
            output: AlgoOutput::Json(json!({"faces": "none"})),
            metadata: Metadata::new(ContentType::Json, 0.0),
        };
        let err = response.decode::<Faces>().expect_err("mismatch");
        assert!(err.to_string().contains("Faces"), "{err}");
    }
}
