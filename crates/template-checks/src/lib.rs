//! Checks on the SAM templates under `blueprints/` that `sam validate --lint` does not
//! make (the tests in `tests/templates.rs` run both):
//!
//! - [`broad_grants`]: no identity-policy statement allows data actions on every
//!   resource (`Resource: "*"`, or an ARN whose resource part is `*`), including
//!   statements inside `!If`.
//! - [`implicit_grants`]: no function lets SAM attach a managed policy that reads
//!   every stream or queue (polled event sources on a SAM-generated role).
//! - [`build_problems`]: every function is built by cargo-lambda from a real `[[bin]]`
//!   of the workspace, for arm64 on `provided.al2023`.
//! - [`samconfig_problems`]: `samconfig.toml` has a config env that builds, validates
//!   and deploys the template.
//!
//! Templates are read with `serde_yaml`, which keeps CloudFormation's short-form
//! intrinsics (`!Sub`, `!Ref`, `!If`, ...) as tagged values; the long forms
//! (`Fn::If`, `Ref`, ...) are read too.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

/// Actions that cannot be scoped to a resource and touch no data: allowed on `*`.
const UNSCOPED_OK: &[&str] = &[
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
    "cloudwatch:PutMetricData",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];

/// AWS managed policies that grant no data access (logs, traces, VPC interfaces).
const MANAGED_OK: &[&str] = &[
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
    "AWSLambdaENIManagementAccess",
    "AWSXRayDaemonWriteAccess",
    "AWSXrayWriteOnlyAccess",
    "CloudWatchLambdaInsightsExecutionRolePolicy",
];

/// Reads a template.
pub fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("{}: not YAML: {e}", path.display()))
}

/// `blueprints/*/template.yaml` under `root`, sorted.
pub fn blueprint_templates(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join("blueprints")) else {
        return Vec::new();
    };
    let mut templates: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("template.yaml"))
        .filter(|path| path.is_file())
        .collect();
    templates.sort();
    templates
}

/// A grant that is too broad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Logical id of the resource holding the policy.
    pub resource: String,
    /// Where in it, e.g. `Policies[0].Statement[2] (Sid ReadUploads)`.
    pub location: String,
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.resource, self.location, self.problem)
    }
}

/// An intrinsic function in either form: `!If [..]` or `{"Fn::If": [..]}`.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!');
            Some((name.to_owned(), &tagged.value))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            if key == "Ref" || key == "Condition" {
                Some((key.to_owned(), arg))
            } else {
                key.strip_prefix("Fn::").map(|name| (name.to_owned(), arg))
            }
        }
        _ => None,
    }
}

/// What a template value can evaluate to, as far as the checks need: `!If` gives
/// both branches, `!Ref AWS::NoValue` nothing, `!Ref Param` the parameter's default,
/// other references a `${...}` placeholder.
fn possible(value: &Value, parameters: &Mapping) -> Vec<Value> {
    match intrinsic(value) {
        Some((name, arg)) => match name.as_str() {
            "If" => arg
                .as_sequence()
                .map(|branches| {
                    branches
                        .iter()
                        .skip(1)
                        .flat_map(|b| possible(b, parameters))
                        .collect()
                })
                .unwrap_or_default(),
            "Ref" => {
                let target = arg.as_str().unwrap_or_default();
                if target == "AWS::NoValue" {
                    return Vec::new();
                }
                let default = parameters
                    .get(target)
                    .and_then(|p| p.get("Default"))
                    .and_then(Value::as_str);
                vec![Value::String(
                    default.map_or_else(|| format!("${{{target}}}"), str::to_owned),
                )]
            }
            "Sub" => {
                let text = arg.as_str().or_else(|| {
                    arg.as_sequence()
                        .and_then(|s| s.first())
                        .and_then(Value::as_str)
                });
                vec![Value::String(text.unwrap_or("${Sub}").to_owned())]
            }
            "Join" => {
                let Some([delimiter, Value::Sequence(parts)]) =
                    arg.as_sequence().map(Vec::as_slice)
                else {
                    return vec![Value::String("${Join}".into())];
                };
                let joined: Vec<String> = parts
                    .iter()
                    .map(|part| {
                        possible(part, parameters)
                            .first()
                            .and_then(Value::as_str)
                            .unwrap_or("${?}")
                            .to_owned()
                    })
                    .collect();
                vec![Value::String(joined.join(delimiter.as_str().unwrap_or("")))]
            }
            other => vec![Value::String(format!("${{{other}}}"))],
        },
        None => vec![value.clone()],
    }
}

/// The strings a value can be: a string, a list of them, through intrinsics.
fn strings(value: &Value, parameters: &Mapping) -> Vec<String> {
    possible(value, parameters)
        .into_iter()
        .flat_map(|v| match v {
            Value::Sequence(items) => items.iter().flat_map(|i| strings(i, parameters)).collect(),
            Value::String(s) => vec![s],
            Value::Null => Vec::new(),
            other => vec![
                serde_yaml::to_string(&other)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            ],
        })
        .collect()
}

/// The items of a list (or a single item), each `!If` expanded into its branches.
fn items(value: &Value, parameters: &Mapping) -> Vec<Value> {
    possible(value, parameters)
        .into_iter()
        .flat_map(|v| match v {
            Value::Sequence(list) => list.iter().flat_map(|i| possible(i, parameters)).collect(),
            other => vec![other],
        })
        .collect()
}

/// `*`, or an ARN whose resource part names no resource in particular:
/// `arn:aws:s3:::*`, `arn:aws:sqs:*:*:*`, `arn:aws:dynamodb:*:*:table/*`.
pub fn is_unscoped_resource(resource: &str) -> bool {
    let resource = resource.trim();
    if resource == "*" {
        return true;
    }
    // `${AWS::Partition}` holds colons: substitutions name something, never `*`.
    let resource = without_substitutions(resource);
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    let [arn, _partition, service, _region, _account, rest] = parts.as_slice() else {
        return false;
    };
    if *arn != "arn" {
        return false;
    }
    if *service == "s3" {
        // The first segment is the bucket.
        return rest.split('/').next() == Some("*");
    }
    let segments: Vec<&str> = rest.split(['/', ':']).collect();
    matches!(segments.as_slice(), ["*"] | [_, "*"])
}

/// `text` with every `${...}` replaced by `_`.
fn without_substitutions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push('_');
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_unscoped_ok(action: &str) -> bool {
    UNSCOPED_OK.iter().any(|ok| ok.eq_ignore_ascii_case(action))
}

/// Every grant in the template that is too broad. An empty list is a pass.
pub fn broad_grants(template: &Value) -> Vec<Finding> {
    let empty = Mapping::new();
    let parameters = template
        .get("Parameters")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    let mut findings = Vec::new();
    let Some(resources) = template.get("Resources").and_then(Value::as_mapping) else {
        return findings;
    };
    for (id, resource) in resources {
        let id = id.as_str().unwrap_or("?");
        let kind = resource.get("Type").and_then(Value::as_str).unwrap_or("");
        let Some(properties) = resource.get("Properties") else {
            continue;
        };
        let mut check = Check {
            resource: id,
            parameters,
            findings: &mut findings,
        };
        match kind {
            "AWS::Serverless::Function" | "AWS::Serverless::StateMachine" => {
                if let Some(policies) = properties.get("Policies") {
                    check.sam_policies(policies);
                }
            }
            "AWS::IAM::Role" => {
                if let Some(policies) = properties.get("Policies") {
                    for (i, policy) in items(policies, parameters).iter().enumerate() {
                        if let Some(document) = policy.get("PolicyDocument") {
                            check.document(document, &format!("Policies[{i}].PolicyDocument"));
                        }
                    }
                }
                if let Some(arns) = properties.get("ManagedPolicyArns") {
                    for arn in strings(arns, parameters) {
                        check.managed(&arn, "ManagedPolicyArns");
                    }
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                if let Some(document) = properties.get("PolicyDocument") {
                    check.document(document, "PolicyDocument");
                }
            }
            _ => {}
        }
    }
    findings
}

/// Poll-based event sources for which SAM attaches an AWS managed policy to the
/// role it generates; each allows reading every stream or queue (`Resource: "*"`).
const POLLED_SOURCES: &[(&str, &str)] = &[
    ("DynamoDB", "AWSLambdaDynamoDBExecutionRole"),
    ("Kinesis", "AWSLambdaKinesisExecutionRole"),
    ("SQS", "AWSLambdaSQSQueueExecutionRole"),
    ("MSK", "AWSLambdaMSKExecutionRole"),
];

/// Grants the template does not spell out: a function without a `Role` of its own
/// whose events include a polled source gets that source's managed policy from SAM's
/// transform. An empty list is a pass.
pub fn implicit_grants(template: &Value) -> Vec<Finding> {
    let Some(resources) = template.get("Resources").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    let has_global_role = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .is_some_and(|f| f.get("Role").is_some());
    let mut findings = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let properties = resource.get("Properties");
        if has_global_role || properties.is_some_and(|p| p.get("Role").is_some()) {
            continue;
        }
        let events = properties
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping);
        for (name, event) in events.into_iter().flatten() {
            let kind = event.get("Type").and_then(Value::as_str).unwrap_or("");
            if let Some((_, policy)) = POLLED_SOURCES.iter().find(|(source, _)| *source == kind) {
                findings.push(Finding {
                    resource: id.as_str().unwrap_or("?").to_owned(),
                    location: format!("Events.{}", name.as_str().unwrap_or("?")),
                    problem: format!(
                        "a {kind} event on a SAM-generated role attaches {policy}, which allows reading every {kind} source (Resource \"*\"): give the function a Role of its own, scoped to its source"
                    ),
                });
            }
        }
    }
    findings
}

struct Check<'a> {
    resource: &'a str,
    parameters: &'a Mapping,
    findings: &'a mut Vec<Finding>,
}

impl Check<'_> {
    fn report(&mut self, location: String, problem: String) {
        self.findings.push(Finding {
            resource: self.resource.to_owned(),
            location,
            problem,
        });
    }

    /// A SAM function's `Policies`: managed policy names, policy documents, and
    /// SAM policy templates (`S3ReadPolicy: {BucketName: ...}`).
    fn sam_policies(&mut self, policies: &Value) {
        for (i, policy) in items(policies, self.parameters).iter().enumerate() {
            let location = format!("Policies[{i}]");
            match policy {
                Value::Mapping(map) if map.contains_key("Statement") => {
                    self.document(policy, &location)
                }
                Value::Mapping(map) => {
                    for (name, arguments) in map {
                        let name = name.as_str().unwrap_or("?");
                        let wildcard =
                            arguments.as_mapping().into_iter().flatten().find(|(_, v)| {
                                strings(v, self.parameters)
                                    .iter()
                                    .any(|s| is_unscoped_resource(s))
                            });
                        if let Some((parameter, _)) = wildcard {
                            let parameter = parameter.as_str().unwrap_or("?");
                            self.report(
                                location.clone(),
                                format!("SAM policy template {name} with {parameter} \"*\": name the resource"),
                            );
                        }
                    }
                }
                other => {
                    for name in strings(other, self.parameters) {
                        self.managed(&name, &location);
                    }
                }
            }
        }
    }

    fn managed(&mut self, name: &str, location: &str) {
        let short = name.rsplit('/').next().unwrap_or(name);
        if !MANAGED_OK.contains(&short) {
            self.report(
                location.to_owned(),
                format!(
                    "managed policy {name}: its grants cannot be checked here; write a Statement scoped to the resources the function uses"
                ),
            );
        }
    }

    fn document(&mut self, document: &Value, location: &str) {
        let Some(statements) = document.get("Statement") else {
            return;
        };
        for (i, statement) in items(statements, self.parameters).iter().enumerate() {
            let sid = statement
                .get("Sid")
                .and_then(Value::as_str)
                .map(|sid| format!(" (Sid {sid})"))
                .unwrap_or_default();
            self.statement(statement, format!("{location}.Statement[{i}]{sid}"));
        }
    }

    fn statement(&mut self, statement: &Value, location: String) {
        let field = |name: &str| {
            statement
                .get(name)
                .map(|v| strings(v, self.parameters))
                .unwrap_or_default()
        };
        if field("Effect").iter().any(|e| e == "Deny") {
            return;
        }
        if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
            self.report(
                location,
                "Allow with NotAction/NotResource grants everything not listed: list the actions and resources instead".into(),
            );
            return;
        }
        let resources = field("Resource");
        let Some(unscoped) = resources.iter().find(|r| is_unscoped_resource(r)) else {
            return;
        };
        let data_actions: Vec<String> = field("Action")
            .into_iter()
            .filter(|action| !is_unscoped_ok(action))
            .collect();
        if !data_actions.is_empty() {
            self.report(
                location,
                format!(
                    "allows {} on Resource {unscoped:?}: scope it to the bucket, table, queue or key the function uses",
                    data_actions.join(", ")
                ),
            );
        }
    }
}

/// How one function of a template is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionBuild {
    pub resource: String,
    pub build_method: Option<String>,
    pub binary: Option<String>,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub architectures: Vec<String>,
}

/// The `AWS::Serverless::Function`s of a template, with `Globals.Function` applied.
pub fn functions(template: &Value) -> Vec<FunctionBuild> {
    let empty = Mapping::new();
    let parameters = template
        .get("Parameters")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    let globals = template.get("Globals").and_then(|g| g.get("Function"));
    let text = |value: Option<&Value>| {
        value
            .map(|v| strings(v, parameters))
            .and_then(|s| s.into_iter().next())
    };
    let Some(resources) = template.get("Resources").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|(id, resource)| {
            let property = |name: &str| {
                resource
                    .get("Properties")
                    .and_then(|p| p.get(name))
                    .or_else(|| globals.and_then(|g| g.get(name)))
            };
            let metadata = resource.get("Metadata");
            FunctionBuild {
                resource: id.as_str().unwrap_or("?").to_owned(),
                build_method: text(metadata.and_then(|m| m.get("BuildMethod"))),
                binary: text(
                    metadata
                        .and_then(|m| m.get("BuildProperties"))
                        .and_then(|b| b.get("Binary")),
                ),
                runtime: text(property("Runtime")),
                handler: text(property("Handler")),
                architectures: property("Architectures")
                    .map(|a| strings(a, parameters))
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The `[[bin]]` targets of the workspace's members, from
/// `cargo metadata --no-deps --format-version 1`.
pub fn workspace_bins(metadata: &serde_json::Value) -> BTreeSet<String> {
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|package| package["targets"].as_array().into_iter().flatten())
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .filter_map(|target| target["name"].as_str().map(str::to_owned))
        .collect()
}

/// What is wrong with how the template's functions are built. Empty is a pass.
pub fn build_problems(template: &Value, bins: &BTreeSet<String>) -> Vec<String> {
    let functions = functions(template);
    if functions.is_empty() {
        return vec!["defines no AWS::Serverless::Function".into()];
    }
    let mut problems = Vec::new();
    for f in functions {
        let id = &f.resource;
        if f.build_method.as_deref() != Some("rust-cargolambda") {
            problems.push(format!(
                "{id}: Metadata.BuildMethod is {:?}, expected rust-cargolambda",
                f.build_method
            ));
        }
        match &f.binary {
            Some(binary) if bins.contains(binary) => {}
            other => problems.push(format!(
                "{id}: Metadata.BuildProperties.Binary {other:?} is not a [[bin]] of the workspace (bins: {})",
                bins.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
        if f.runtime.as_deref() != Some("provided.al2023") {
            problems.push(format!(
                "{id}: Runtime is {:?}, expected provided.al2023",
                f.runtime
            ));
        }
        if f.handler.as_deref() != Some("bootstrap") {
            problems.push(format!(
                "{id}: Handler is {:?}, expected bootstrap",
                f.handler
            ));
        }
        if f.architectures != ["arm64"] {
            problems.push(format!(
                "{id}: Architectures is {:?}, expected [arm64]",
                f.architectures
            ));
        }
    }
    problems
}

/// What is missing from `samconfig.toml` for the template at `template` (a path
/// relative to the workspace root, e.g. `blueprints/s3-thumbnail/template.yaml`):
/// one config env must build it (cargo-lambda is a SAM beta feature), validate it
/// with `--lint`, and deploy what was built. Empty is a pass.
pub fn samconfig_problems(config: &toml::Table, template: &str) -> Vec<String> {
    let envs: Vec<(&String, &toml::Value)> = config
        .iter()
        .filter(|(_, env)| {
            env.get("build")
                .and_then(|c| c.get("parameters"))
                .and_then(|p| p.get("template_file"))
                .and_then(toml::Value::as_str)
                == Some(template)
        })
        .collect();
    let [(name, env)] = envs.as_slice() else {
        return vec![format!(
            "{} config envs build {template}; expected exactly one",
            envs.len()
        )];
    };
    let mut problems = Vec::new();
    let parameter = |command: &str, key: &str| {
        env.get(command)
            .and_then(|c| c.get("parameters"))
            .and_then(|p| p.get(key))
    };
    let mut expect = |command: &str, key: &str, ok: bool, wanted: &str| {
        if !ok {
            problems.push(format!(
                "[{name}.{command}.parameters] {key} is {:?}, expected {wanted}",
                parameter(command, key).map(ToString::to_string)
            ));
        }
    };
    let text = |command: &str, key: &str| parameter(command, key).and_then(toml::Value::as_str);
    let build_dir = text("build", "build_dir").unwrap_or_default();
    expect(
        "build",
        "beta_features",
        parameter("build", "beta_features").and_then(toml::Value::as_bool) == Some(true),
        "true (rust-cargolambda is a beta build method)",
    );
    expect(
        "build",
        "build_dir",
        !build_dir.is_empty(),
        "a folder of its own",
    );
    expect(
        "validate",
        "template_file",
        text("validate", "template_file") == Some(template),
        template,
    );
    expect(
        "validate",
        "lint",
        parameter("validate", "lint").and_then(toml::Value::as_bool) == Some(true),
        "true",
    );
    let built = format!("{build_dir}/template.yaml");
    expect(
        "deploy",
        "template_file",
        text("deploy", "template_file") == Some(built.as_str()),
        &built,
    );
    expect(
        "deploy",
        "stack_name",
        text("deploy", "stack_name").is_some_and(|s| !s.is_empty()),
        "a stack name",
    );
    expect(
        "deploy",
        "resolve_s3",
        parameter("deploy", "resolve_s3").and_then(toml::Value::as_bool) == Some(true),
        "true",
    );
    expect(
        "deploy",
        "capabilities",
        text("deploy", "capabilities").is_some_and(|c| c.contains("CAPABILITY_IAM")),
        "CAPABILITY_IAM",
    );
    expect(
        "deploy",
        "parameter_overrides",
        parameter("deploy", "parameter_overrides").is_some(),
        "the template's parameters",
    );
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).expect("YAML")
    }

    fn function_with(statements: &str) -> Value {
        yaml(&format!(
            r#"
Parameters:
  KeyArn: {{Type: String, Default: ""}}
  Anything: {{Type: String, Default: "*"}}
Conditions:
  On: !Equals [a, a]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
{statements}
"#
        ))
    }

    fn problems(statements: &str) -> Vec<String> {
        broad_grants(&function_with(statements))
            .iter()
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn unscoped_resources_are_recognised() {
        for unscoped in [
            "*",
            "arn:aws:s3:::*",
            "arn:aws:s3:::*/*",
            "arn:${AWS::Partition}:sqs:*:*:*",
            "arn:aws:dynamodb:us-east-1:123456789012:table/*",
        ] {
            assert!(is_unscoped_resource(unscoped), "{unscoped}");
        }
        for scoped in [
            "arn:aws:s3:::my-bucket/*",
            "arn:aws:s3:::my-bucket",
            "arn:aws:dynamodb:us-east-1:123456789012:table/Patients",
            "arn:aws:dynamodb:*:*:table/Patients/stream/*",
            "${Table.Arn}",
            "",
        ] {
            assert!(!is_unscoped_resource(scoped), "{scoped}");
        }
    }

    #[test]
    fn data_actions_on_every_resource_are_found_even_inside_if() {
        let found = problems(
            r#"
            - Sid: Fine
              Effect: Allow
              Action: s3:GetObject
              Resource: !Sub "arn:${AWS::Partition}:s3:::bucket/uploads/*"
            - !If
              - On
              - Sid: Planted
                Effect: Allow
                Action: [s3:GetObject, xray:PutTraceSegments]
                Resource: "*"
              - !Ref AWS::NoValue
            - Fn::If: [On, !Ref AWS::NoValue, {Effect: Allow, Action: "sqs:*", Resource: ["arn:aws:sqs:*:*:*"]}]
"#,
        );
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].contains("Statement[1] (Sid Planted)")
                && found[0].contains("allows s3:GetObject on Resource \"*\""),
            "{found:#?}"
        );
        assert!(found[1].contains("sqs:*"), "{found:#?}");
    }

    #[test]
    fn parameter_defaults_and_joins_are_followed() {
        let found = problems(
            r#"
            - Effect: Allow
              Action: kms:Decrypt
              Resource: !Ref KeyArn
            - Effect: Allow
              Action: kms:Decrypt
              Resource: !Ref Anything
            - Effect: Allow
              Action: s3:PutObject
              Resource: !Join ["", ["arn:aws:s3:::", "*"]]
"#,
        );
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("Statement[1]"), "{found:#?}");
        assert!(
            found[1].contains("Statement[2]") && found[1].contains("arn:aws:s3:::*"),
            "{found:#?}"
        );
    }

    #[test]
    fn traces_on_every_resource_and_denies_are_fine_but_not_actions_are_not() {
        assert!(
            problems(
                r#"
            - Effect: Allow
              Action: [xray:PutTraceSegments, xray:PutTelemetryRecords]
              Resource: "*"
            - Effect: Deny
              Action: "s3:*"
              Resource: "*"
"#
            )
            .is_empty()
        );
        let found = problems(
            r#"
            - Effect: Allow
              NotAction: iam:*
              Resource: "arn:aws:s3:::b/*"
"#,
        );
        assert!(found[0].contains("NotAction"), "{found:#?}");
    }

    #[test]
    fn managed_policies_and_policy_templates_are_checked() {
        let template = yaml(
            r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - AWSLambdaBasicExecutionRole
        - AmazonS3FullAccess
        - S3ReadPolicy: {BucketName: my-bucket}
        - S3CrudPolicy: {BucketName: "*"}
  Role:
    Type: AWS::IAM::Role
    Properties:
      ManagedPolicyArns: [arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess]
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - {Effect: Allow, Action: dynamodb:PutItem, Resource: "*"}
"#,
        );
        let found: Vec<String> = broad_grants(&template)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0].starts_with("Fn Policies[1]: managed policy AmazonS3FullAccess"),
            "{found:#?}"
        );
        assert!(
            found[1].contains("S3CrudPolicy with BucketName"),
            "{found:#?}"
        );
        assert!(
            found[2].starts_with("Role Policies[0].PolicyDocument.Statement[0]"),
            "{found:#?}"
        );
        assert!(found[3].contains("AmazonDynamoDBFullAccess"), "{found:#?}");
    }

    #[test]
    fn polled_sources_on_generated_roles_are_found() {
        let template = yaml(
            r#"
Resources:
  Generated:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Stream: {Type: DynamoDB, Properties: {Stream: x}}
        Upload: {Type: S3, Properties: {Bucket: !Ref B}}
  Owned:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt R.Arn
      Events:
        Queue: {Type: SQS, Properties: {Queue: x}}
"#,
        );
        let found = implicit_grants(&template);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(
            (found[0].resource.as_str(), found[0].location.as_str()),
            ("Generated", "Events.Stream")
        );
        assert!(
            found[0].problem.contains("AWSLambdaDynamoDBExecutionRole"),
            "{found:#?}"
        );
    }

    #[test]
    fn builds_must_name_a_workspace_binary_for_arm64() {
        let template = yaml(
            r#"
Globals:
  Function: {Runtime: provided.al2023, Handler: bootstrap, Architectures: [arm64]}
Resources:
  Good:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: s3-thumbnail}}
    Properties: {CodeUri: ../..}
  Bad:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: s3-thumbnails}}
    Properties: {CodeUri: ../.., Architectures: [x86_64]}
"#,
        );
        let bins = BTreeSet::from(["s3-thumbnail".to_owned()]);
        let found = build_problems(&template, &bins);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("Bad: Metadata.BuildProperties.Binary Some(\"s3-thumbnails\")"),
            "{found:#?}"
        );
        assert!(found[1].contains("x86_64"), "{found:#?}");
    }

    #[test]
    fn bins_come_from_cargo_metadata() {
        let metadata = serde_json::json!({"packages": [
            {"targets": [{"name": "s3_thumbnail", "kind": ["lib"]}, {"name": "s3-thumbnail", "kind": ["bin"]}]},
            {"targets": [{"name": "moto", "kind": ["test"]}]}
        ]});
        assert_eq!(
            workspace_bins(&metadata),
            BTreeSet::from(["s3-thumbnail".to_owned()])
        );
    }

    #[test]
    fn samconfig_needs_one_env_that_builds_validates_and_deploys() {
        let config: toml::Table = toml::from_str(
            r#"
version = 0.1
[a.build.parameters]
template_file = "blueprints/a/template.yaml"
build_dir = ".aws-sam/a"
beta_features = true
[a.validate.parameters]
template_file = "blueprints/a/template.yaml"
lint = true
[a.deploy.parameters]
template_file = ".aws-sam/a/template.yaml"
stack_name = "a"
resolve_s3 = true
capabilities = "CAPABILITY_IAM"
parameter_overrides = "X=1"
[b.build.parameters]
template_file = "blueprints/b/template.yaml"
build_dir = ".aws-sam/b"
[b.deploy.parameters]
template_file = "blueprints/b/template.yaml"
"#,
        )
        .expect("TOML");
        assert_eq!(
            samconfig_problems(&config, "blueprints/a/template.yaml"),
            Vec::<String>::new()
        );
        let found = samconfig_problems(&config, "blueprints/b/template.yaml");
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("[b.build.parameters] beta_features")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("template_file") && p.contains(".aws-sam/b/template.yaml")),
            "{found:#?}"
        );
        assert_eq!(found.len(), 8, "{found:#?}");
        assert!(
            samconfig_problems(&config, "blueprints/c/template.yaml")[0]
                .starts_with("0 config envs")
        );
    }
}
