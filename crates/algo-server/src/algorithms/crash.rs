//! `blueprints/Crash/1.0.0`, hosted only with `--enable-test-algorithms`: panics, as a
//! decoder bug would, to show that one call's panic never ends the server.

use algorithmia_v1::Version;

use crate::algorithm::{AlgoError, Algorithm, Context, Description, Input, Output};

pub struct Crash;

impl Algorithm for Crash {
    fn owner(&self) -> &str {
        super::OWNER
    }

    fn name(&self) -> &str {
        "Crash"
    }

    fn versions(&self) -> &[Version] {
        &super::V1_0_0
    }

    fn description(&self) -> Description {
        Description {
            input: "anything (test algorithm)",
            output: "never: the call panics",
        }
    }

    fn call(&self, input: Input, _ctx: &Context) -> Result<Output, AlgoError> {
        panic!("Crash was called with {}", super::kind_of(&input));
    }
}
