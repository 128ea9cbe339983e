//! Checks on the SAM templates (the blueprints under `blueprints/`, algo-server's in
//! `crates/algo-server/`, the whole pipeline's in `app/`) that `sam validate --lint` does not
//! make (the tests in `tests/templates.rs` run both):
//!
//! - [`broad_grants`]: no identity-policy statement allows data actions on every
//!   resource (`Resource: "*"`, or an ARN whose resource part is `*`), including
//!   statements inside `!If`.
//! - [`implicit_grants`]: no function lets SAM attach a managed policy that reads
//!   every stream or queue (polled event sources on a SAM-generated role).
//! - [`build_problems`]: every function is built by cargo-lambda from a real `[[bin]]`
//!   of the workspace, for arm64 on `provided.al2023`.
//! - [`concurrency_problems`]: every function's reserved concurrency and per-instance
//!   cap on algorithm calls come from the parameters `ReservedConcurrency` and
//!   `AlgorithmiaMaxConcurrency`, whose defaults fit an endpoint's default capacity.
//! - [`samconfig_problems`]: each blueprint folder's own `samconfig.toml` has a
//!   `default` env that builds, validates and deploys the folder's `template.yaml`,
//!   and points SAM nowhere else, so `cd blueprints/<name> && sam build && sam deploy`
//!   works.
//! - [`alarm_problems`]: every failure queue has an alarm on its depth and every
//!   function one on its `Errors`, both notifying the topic `AlarmTopicArn` names.
//!
//! Modules by job: `template` finds and reads the templates and evaluates
//! CloudFormation intrinsics, `iam` checks grants, `functions` how functions are
//! built, `concurrency` the bounds on calls, `samconfig` the SAM CLI config.

mod alarms;
mod concurrency;
mod functions;
mod iam;
mod samconfig;
mod template;

pub use alarms::{ALARM_TOPIC, alarm_problems};
pub use concurrency::{
    DEFAULT_ENDPOINT_CAPACITY, MAX_CONCURRENCY, RESERVED_CONCURRENCY, concurrency_problems,
};
pub use functions::{FunctionBuild, build_problems, functions, workspace_bins};
pub use iam::{Finding, broad_grants, implicit_grants, is_unscoped_resource};
pub use samconfig::{SAMCONFIG_ENV, samconfig_problems};
pub use template::{
    OTHER_DEPLOY_DIRS, blueprint_dirs, blueprint_templates, deploy_dirs, deploy_templates, load,
};
