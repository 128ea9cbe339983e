//! How the templates' functions are built: by cargo-lambda, from a real `[[bin]]` of
//! the workspace, for arm64 on `provided.al2023`.

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::template::{parameters, strings};

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
    let parameters = parameters(template);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).expect("YAML")
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
}
