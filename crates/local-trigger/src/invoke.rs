//! Invocations through a Lambda Runtime API emulator (`cargo lambda watch`).

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("could not invoke {function} at {url}: {detail}")]
    Transport {
        function: String,
        url: String,
        detail: String,
    },
    /// The function ran and returned an error.
    #[error("{function} failed: {error_type}: {message}")]
    Function {
        function: String,
        error_type: String,
        message: String,
    },
}

#[derive(Clone)]
pub struct Invoker {
    http: reqwest::Client,
    runtime: String,
}

impl Invoker {
    pub fn new(runtime: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            runtime: runtime.trim_end_matches('/').to_owned(),
        }
    }

    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Value, InvokeError> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.runtime
        );
        let transport = |detail: String| InvokeError::Transport {
            function: function.to_owned(),
            url: url.clone(),
            detail,
        };
        let reply = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(event.to_string())
            .send()
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = reply.status();
        let function_error = reply.headers().contains_key("x-amz-function-error");
        let text = reply.text().await.map_err(|e| transport(e.to_string()))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        let error_type = body
            .get("errorType")
            .or_else(|| body.get("error_type"))
            .and_then(Value::as_str);
        if function_error || error_type.is_some() || !status.is_success() {
            let message = body
                .get("errorMessage")
                .or_else(|| body.get("error_message"))
                .and_then(Value::as_str)
                .unwrap_or(&text);
            return Err(InvokeError::Function {
                function: function.to_owned(),
                error_type: error_type.unwrap_or("HTTP error").to_owned(),
                message: format!("{message} (HTTP {status})"),
            });
        }
        Ok(body)
    }
}
