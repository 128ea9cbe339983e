//! `blueprints/Echo/1.0.0`: returns its input, keeping its kind.

use algorithmia_v1::Version;

use crate::algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};

pub struct Echo;

impl Algorithm for Echo {
    fn owner(&self) -> &str {
        super::OWNER
    }

    fn name(&self) -> &str {
        "Echo"
    }

    fn versions(&self) -> &[Version] {
        &super::V1_0_0
    }

    fn description(&self) -> Description {
        Description {
            input: "anything: JSON, text or bytes",
            output: "the input unchanged, of the same kind",
        }
    }

    fn call(&self, input: Input, ctx: &Context) -> Result<Output, AlgoError> {
        ctx.print(format!("echo: {} input", super::kind_of(&input)));
        Ok(match input {
            Input::Json(value) => Output::Json(value),
            Input::Text(text) => Output::Text(text),
            Input::Binary(bytes) => Output::Binary(bytes.to_vec()),
        })
    }
}
