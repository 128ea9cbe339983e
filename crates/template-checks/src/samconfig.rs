//! Each blueprint's own `blueprints/<name>/samconfig.toml`: SAM reads it, and
//! `template.yaml`, from the current folder, so `cd blueprints/<name> && sam build &&
//! sam deploy` works with no arguments.

/// The config env SAM uses when no `--config-env` is given.
pub const SAMCONFIG_ENV: &str = "default";

/// Keys that point SAM away from the blueprint's folder: with either one set,
/// running `sam build`, `sam validate` or `sam deploy` from the folder breaks.
const FOLDER_BREAKING: &[&str] = &["template_file", "build_dir"];

/// What is wrong with one blueprint's `samconfig.toml`: its [`SAMCONFIG_ENV`] env
/// must build the template (cargo-lambda is a SAM beta feature), validate it with
/// `--lint`, and deploy it; and no env may set `template_file` or `build_dir`, so that
/// SAM uses the folder's `template.yaml` and its own `.aws-sam/build`. Empty is a pass.
pub fn samconfig_problems(config: &toml::Table) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, env) in config.iter().filter_map(|(n, e)| Some((n, e.as_table()?))) {
        for (command, section) in env {
            let parameters = section.get("parameters").and_then(toml::Value::as_table);
            for key in FOLDER_BREAKING {
                if let Some(value) = parameters.and_then(|p| p.get(*key)) {
                    problems.push(format!(
                        "[{name}.{command}.parameters] sets {key} = {value}: remove it, SAM takes template.yaml and .aws-sam/build from the blueprint's folder"
                    ));
                }
            }
        }
    }
    let name = SAMCONFIG_ENV;
    let Some(env) = config.get(name).and_then(toml::Value::as_table) else {
        problems.push(format!(
            "no [{name}.*] config env: `sam build`, `sam validate` and `sam deploy` read that one"
        ));
        return problems;
    };
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
    let flag = |command: &str, key: &str| {
        parameter(command, key).and_then(toml::Value::as_bool) == Some(true)
    };
    let text = |command: &str, key: &str| parameter(command, key).and_then(toml::Value::as_str);
    expect(
        "build",
        "beta_features",
        flag("build", "beta_features"),
        "true (rust-cargolambda is a beta build method)",
    );
    expect("validate", "lint", flag("validate", "lint"), "true");
    expect(
        "deploy",
        "stack_name",
        text("deploy", "stack_name").is_some_and(|s| !s.is_empty()),
        "a stack name",
    );
    expect("deploy", "resolve_s3", flag("deploy", "resolve_s3"), "true");
    expect(
        "deploy",
        "capabilities",
        capabilities(parameter("deploy", "capabilities")).contains(&"CAPABILITY_IAM"),
        "CAPABILITY_IAM among them",
    );
    expect(
        "deploy",
        "parameter_overrides",
        parameter("deploy", "parameter_overrides").is_some(),
        "the template's parameters",
    );
    problems
}

/// SAM takes capabilities as one space-separated string or as a list.
fn capabilities(value: Option<&toml::Value>) -> Vec<&str> {
    match value {
        Some(toml::Value::String(text)) => text.split_whitespace().collect(),
        Some(toml::Value::Array(list)) => list.iter().filter_map(toml::Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        samconfig_problems(&toml::from_str(text).expect("TOML"))
    }

    const GOOD: &str = r#"
version = 0.1
[default.build.parameters]
beta_features = true
[default.validate.parameters]
lint = true
[default.deploy.parameters]
stack_name = "a"
resolve_s3 = true
capabilities = "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
parameter_overrides = "X=1"
[default.sync.parameters]
stack_name = "a"
"#;

    #[test]
    fn a_default_env_that_builds_validates_and_deploys_passes() {
        assert_eq!(problems(GOOD), Vec::<String>::new());
    }

    #[test]
    fn each_missing_setting_is_named() {
        let found = problems(
            r#"
version = 0.1
[default.build.parameters]
beta_features = false
[default.deploy.parameters]
stack_name = ""
capabilities = "CAPABILITY_NAMED_IAM"
"#,
        );
        assert!(
            found
                .iter()
                .any(|p| p
                    .starts_with("[default.build.parameters] beta_features is Some(\"false\")")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("[default.validate.parameters] lint is None")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("[default.deploy.parameters] capabilities")),
            "{found:#?}"
        );
        // beta_features, lint, stack_name, resolve_s3, capabilities, parameter_overrides.
        assert_eq!(found.len(), 6, "{found:#?}");
    }

    #[test]
    fn capabilities_may_be_a_list() {
        let listed = GOOD.replace(
            "\"CAPABILITY_IAM CAPABILITY_AUTO_EXPAND\"",
            "[\"CAPABILITY_AUTO_EXPAND\", \"CAPABILITY_IAM\"]",
        );
        assert_ne!(listed, GOOD);
        assert_eq!(problems(&listed), Vec::<String>::new());
    }

    #[test]
    fn settings_in_another_env_do_not_count() {
        let found = problems(&GOOD.replace("[default.", "[thumbnail."));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("no [default.*] config env"),
            "{found:#?}"
        );
    }

    #[test]
    fn template_file_and_build_dir_are_refused_in_any_env() {
        let found = problems(&format!(
            r#"{GOOD}
[default.global.parameters]
build_dir = ".aws-sam/a"
[other.validate.parameters]
template_file = "blueprints/a/template.yaml"
"#
        ));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("[default.global.parameters] sets build_dir"),
            "{found:#?}"
        );
        assert!(
            found[1].starts_with("[other.validate.parameters] sets template_file"),
            "{found:#?}"
        );
    }
}
