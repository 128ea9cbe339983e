//! Request bodies: read whole within a size and a time limit, or, for a call refused
//! before its body was needed, read and thrown away after the answer.

use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::protocol::CallError;

/// How much of a body the server takes, and how long it waits for it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// For the whole body, not per read: a client trickling bytes is cut off too.
    pub read_timeout: Duration,
}

impl BodyLimits {
    /// The whole body, at most `max_bytes`, all of it within `read_timeout`.
    pub async fn read(&self, body: Body) -> Result<Bytes, CallError> {
        let collect = Limited::new(body, self.max_bytes).collect();
        match tokio::time::timeout(self.read_timeout, collect).await {
            Err(_elapsed) => Err(CallError::BodyTimeout(self.read_timeout.as_secs())),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(error)) if error.is::<LengthLimitError>() => {
                Err(CallError::TooLarge(self.max_bytes))
            }
            Ok(Err(error)) => Err(CallError::BadRequest(format!(
                "could not read the request body: {error}"
            ))),
        }
    }

    /// Reads the rest of a refused call's body into nothing, within the same limits.
    /// The answer goes out at once; without this the connection would close with the
    /// client's bytes unread, and the kernel would answer them with a reset that can
    /// overtake the answer (a 429 read as a connection error), and a kept-alive
    /// connection would be lost.
    pub fn discard_in_background(&self, body: Body) {
        let limits = *self;
        tokio::spawn(async move {
            let discard = async {
                let mut body = Limited::new(body, limits.max_bytes);
                while let Some(Ok(_frame)) = body.frame().await {}
            };
            let _ = tokio::time::timeout(limits.read_timeout, discard).await;
        });
    }
}
