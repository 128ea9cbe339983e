//! Reading the templates: where they are, and what a CloudFormation value can
//! evaluate to.
//!
//! Templates are read with `serde_yaml`, which keeps CloudFormation's short-form
//! intrinsics (`!Sub`, `!Ref`, `!If`, ...) as tagged values; the long forms
//! (`Fn::If`, `Ref`, ...) are read too.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

/// Reads a template.
pub fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("{}: not YAML: {e}", path.display()))
}

/// The blueprint folders `blueprints/*/` under `root`, the starter `_template`
/// included, sorted.
pub fn blueprint_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join("blueprints")) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Folders deployed with SAM besides the blueprints: algo-server as a Lambda function,
/// and the whole pipeline (algo-server + the blueprints as nested stacks).
pub const OTHER_DEPLOY_DIRS: [&str; 2] = ["crates/algo-server", "app"];

/// Every folder a user runs `sam build` / `sam deploy` in: the blueprints, then
/// [`OTHER_DEPLOY_DIRS`] (those that exist under `root`).
pub fn deploy_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = blueprint_dirs(root);
    dirs.extend(
        OTHER_DEPLOY_DIRS
            .iter()
            .map(|dir| root.join(dir))
            .filter(|dir| dir.join("template.yaml").is_file()),
    );
    dirs
}

/// The `template.yaml` of every [`deploy_dirs`] folder.
pub fn deploy_templates(root: &Path) -> Vec<PathBuf> {
    deploy_dirs(root)
        .into_iter()
        .map(|dir| dir.join("template.yaml"))
        .filter(|path| path.is_file())
        .collect()
}

/// `blueprints/*/template.yaml` under `root`, sorted.
pub fn blueprint_templates(root: &Path) -> Vec<PathBuf> {
    blueprint_dirs(root)
        .into_iter()
        .map(|dir| dir.join("template.yaml"))
        .filter(|path| path.is_file())
        .collect()
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
pub(crate) fn possible(value: &Value, parameters: &Mapping) -> Vec<Value> {
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
pub(crate) fn strings(value: &Value, parameters: &Mapping) -> Vec<String> {
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
pub(crate) fn items(value: &Value, parameters: &Mapping) -> Vec<Value> {
    possible(value, parameters)
        .into_iter()
        .flat_map(|v| match v {
            Value::Sequence(list) => list.iter().flat_map(|i| possible(i, parameters)).collect(),
            other => vec![other],
        })
        .collect()
}

/// The template's `Parameters`, or an empty mapping.
pub(crate) fn parameters(template: &Value) -> &Mapping {
    static EMPTY: std::sync::LazyLock<Mapping> = std::sync::LazyLock::new(Mapping::new);
    template
        .get("Parameters")
        .and_then(Value::as_mapping)
        .unwrap_or(&EMPTY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).expect("YAML")
    }

    #[test]
    fn intrinsics_evaluate_in_both_forms() {
        let template = yaml(
            r#"
Parameters:
  Bucket: {Type: String, Default: my-bucket}
  Key: {Type: String}
Values:
  - !If [On, a, !Ref AWS::NoValue]
  - Fn::If: [On, [b, c], !Ref Bucket]
  - {Ref: Key}
  - !Sub ["arn:aws:s3:::${B}/*", {B: !Ref Bucket}]
  - !Join ["/", [!Ref Bucket, "*"]]
  - !GetAtt Table.Arn
"#,
        );
        let parameters = parameters(&template);
        assert_eq!(
            strings(&template["Values"], parameters),
            [
                "a",
                "b",
                "c",
                "my-bucket",
                "${Key}",
                "arn:aws:s3:::${B}/*",
                "my-bucket/*",
                "${GetAtt}"
            ]
        );
        assert_eq!(items(&template["Values"], parameters).len(), 7);
        assert!(super::parameters(&yaml("Resources: {}")).is_empty());
    }

    #[test]
    fn blueprints_are_the_folders_under_blueprints() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("the workspace root");
        let dirs = blueprint_dirs(root);
        assert!(
            dirs.iter().any(|d| d.ends_with("blueprints/_template")),
            "{dirs:?}"
        );
        assert!(blueprint_templates(root).iter().all(|t| t.is_file()));
        assert!(blueprint_dirs(&root.join("no-such-folder")).is_empty());
    }
}
