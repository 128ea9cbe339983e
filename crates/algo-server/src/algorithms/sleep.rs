//! `blueprints/Sleep/1.0.0`, hosted only with `--enable-test-algorithms`: sleeps, to
//! make the pool busy in tests of saturation, timeouts and shutdown.

use std::time::Duration;

use algorithmia_v1::Version;
use serde_json::{Value, json};

use crate::algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};

pub struct Sleep;

impl Algorithm for Sleep {
    fn owner(&self) -> &str {
        super::OWNER
    }

    fn name(&self) -> &str {
        "Sleep"
    }

    fn versions(&self) -> &[Version] {
        &super::V1_0_0
    }

    fn description(&self) -> Description {
        Description {
            input: "seconds to sleep, a JSON number (test algorithm)",
            output: "{\"slept\": seconds}",
        }
    }

    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError> {
        let seconds = match &input {
            Input::Json(Value::Number(n)) => n.as_f64(),
            Input::Text(text) => text.trim().parse().ok(),
            _ => None,
        }
        .filter(|s| (0.0..=3600.0).contains(s))
        .ok_or_else(|| {
            AlgoError::input(format!(
                "input must be a number of seconds from 0 to 3600, not {}",
                super::kind_of(&input)
            ))
        })?;
        ctx.sleep(Duration::from_secs_f64(seconds))?;
        Ok(Output::Json(json!({ "slept": seconds })))
    }
}
