//! IAM checks: no identity-policy statement allows data actions on every resource,
//! and no event source makes SAM attach a managed policy that does.

use std::fmt;

use serde_yaml::{Mapping, Value};

use crate::template::{items, parameters, strings};

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
    let parameters = parameters(template);
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
}
