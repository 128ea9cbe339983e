//! Every blueprint under `blueprints/`: `sam validate --lint` passes on its template
//! (and fails for real on a broken copy), no grant of data actions on every resource,
//! functions built from real workspace binaries, and a `samconfig.toml` of its own from
//! which a bare `sam validate` in the folder works.
//!
//! The SAM CLI comes from `.venv-sam` (`scripts/sam-venv.sh`; `make test` runs it).
//! It runs offline: telemetry off, a fixed region, no credentials needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Condvar, Mutex};

use serde_yaml::Value;
use template_checks::{
    OTHER_DEPLOY_DIRS, alarm_problems, blueprint_dirs, blueprint_templates, broad_grants,
    build_problems, concurrency_problems, deploy_dirs, deploy_templates, implicit_grants, load,
    samconfig_problems, workspace_bins,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace root")
        .to_path_buf()
}

/// The blueprints' templates.
fn templates() -> Vec<PathBuf> {
    let templates = blueprint_templates(&root());
    assert!(
        templates.len() >= 4,
        "expected the three blueprints and the starter: {templates:?}"
    );
    templates
}

/// Every template a user deploys: the blueprints', algo-server's and the pipeline's.
fn all_templates() -> Vec<PathBuf> {
    let templates = deploy_templates(&root());
    for dir in OTHER_DEPLOY_DIRS {
        assert!(
            templates.contains(&root().join(dir).join("template.yaml")),
            "{dir}/template.yaml in {templates:?}"
        );
    }
    templates
}

fn blueprints() -> Vec<PathBuf> {
    let dirs = blueprint_dirs(&root());
    assert!(
        dirs.len() >= 4,
        "expected the three blueprints and the starter: {dirs:?}"
    );
    dirs
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// At most two SAM CLIs at once across the tests (each takes seconds of CPU to start).
static SAM_SLOTS: (Mutex<usize>, Condvar) = (Mutex::new(2), Condvar::new());

fn sam(args: &[String]) -> Output {
    sam_in(&root(), args)
}

/// Runs `sam` with `dir` as the current directory, where SAM looks for `template.yaml`
/// and `samconfig.toml`.
fn sam_in(dir: &Path, args: &[String]) -> Output {
    let sam = root().join(".venv-sam/bin/sam");
    assert!(
        sam.exists(),
        "{} is missing: run scripts/sam-venv.sh (make test does)",
        sam.display()
    );
    let (slots, freed) = &SAM_SLOTS;
    {
        let mut free = slots.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
    }
    let output = Command::new(&sam)
        .args(args)
        .current_dir(dir)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output();
    *slots.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    freed.notify_one();
    output.unwrap_or_else(|e| panic!("could not run {}: {e}", sam.display()))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `sam` once per (folder, arguments), concurrently within [`SAM_SLOTS`].
fn sam_each(runs: Vec<(PathBuf, Vec<String>)>) -> Vec<(PathBuf, Vec<String>, Output)> {
    let handles: Vec<_> = runs
        .into_iter()
        .map(|(dir, args)| {
            std::thread::spawn(move || {
                let output = sam_in(&dir, &args);
                (dir, args, output)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("sam thread"))
        .collect()
}

fn validate_lint(template: &str) -> Vec<String> {
    ["validate", "--lint", "--template", template]
        .map(str::to_owned)
        .to_vec()
}

#[test]
fn every_template_passes_sam_validate_lint() {
    let runs = all_templates()
        .iter()
        .map(|t| (root(), validate_lint(&relative(t))))
        .collect();
    for (_, args, output) in sam_each(runs) {
        assert!(
            output.status.success(),
            "sam {} failed:\n{}",
            args.join(" "),
            text(&output)
        );
    }
}

#[test]
fn sam_validate_fails_for_real_on_a_broken_template() {
    let dir = std::env::temp_dir().join(format!(
        "template-checks-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let original = std::fs::read_to_string(root().join("blueprints/s3-thumbnail/template.yaml"))
        .expect("template");
    // A reference to a resource the template does not define.
    let broken = dir.join("template.yaml");
    let broken_text = original.replace("!GetAtt FailureQueue.Arn", "!GetAtt MissingQueue.Arn");
    assert_ne!(broken_text, original, "the breakage applies");
    std::fs::write(&broken, broken_text).expect("write");

    let output = sam(&validate_lint(&broken.to_string_lossy()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = text(&output);
    assert!(
        !output.status.success(),
        "a broken template must fail:\n{out}"
    );
    assert!(out.contains("MissingQueue"), "names what is wrong:\n{out}");
}

/// `cd blueprints/<name> && sam build && sam deploy`: SAM takes `template.yaml` and
/// `samconfig.toml` from the current folder, so each blueprint has its own config.
#[test]
fn every_blueprint_folder_has_a_samconfig_from_which_sam_validate_works() {
    let mut problems = Vec::new();
    for blueprint in deploy_dirs(&root()) {
        let path = blueprint.join("samconfig.toml");
        let config = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| toml::from_str::<toml::Table>(&text).map_err(|e| e.to_string()));
        match config {
            Ok(config) => problems.extend(
                samconfig_problems(&config)
                    .into_iter()
                    .map(|problem| format!("{}: {problem}", relative(&path))),
            ),
            Err(e) => problems.push(format!("{}: {e}", relative(&path))),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // SAM reads each file as this test does: the default env's validate section
    // (lint = true) applies to the folder's template.yaml, with no arguments.
    let runs = deploy_dirs(&root())
        .into_iter()
        .map(|dir| (dir, vec!["validate".to_owned()]))
        .collect();
    for (dir, _, output) in sam_each(runs) {
        let out = text(&output);
        assert!(
            output.status.success(),
            "sam validate in {}:\n{out}",
            relative(&dir)
        );
        let name = dir.file_name().expect("name").to_string_lossy();
        assert!(
            out.contains(&format!("{name}/template.yaml is a valid SAM Template")),
            "sam validate in {}:\n{out}",
            relative(&dir)
        );
    }
}

#[test]
fn no_statement_grants_data_actions_on_every_resource() {
    let mut findings = Vec::new();
    for template in all_templates() {
        let doc = load(&template).expect("template");
        for finding in broad_grants(&doc) {
            findings.push(format!("{}: {finding}", relative(&template)));
        }
    }
    assert!(findings.is_empty(), "too broad:\n{}", findings.join("\n"));
}

#[test]
fn the_check_catches_a_statement_planted_in_a_real_template() {
    let mut doc = load(&root().join("blueprints/s3-thumbnail/template.yaml")).expect("template");
    assert!(broad_grants(&doc).is_empty());
    let planted: Value = serde_yaml::from_str(
        r#"
!If
  - KmsMode
  - Sid: Planted
    Effect: Allow
    Action: [s3:GetObject, s3:PutObject]
    Resource: "*"
  - !Ref AWS::NoValue
"#,
    )
    .expect("YAML");
    doc["Resources"]["ThumbnailFunction"]["Properties"]["Policies"][0]["Statement"]
        .as_sequence_mut()
        .expect("the function's statements")
        .push(planted);
    let findings = broad_grants(&doc);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].resource, "ThumbnailFunction");
    assert!(
        findings[0].location.contains("Sid Planted")
            && findings[0].problem.contains("s3:GetObject, s3:PutObject"),
        "{}",
        findings[0]
    );
}

/// A polled event source (SQS, DynamoDB or Kinesis stream) on a function without a
/// Role of its own makes SAM attach a managed policy that reads every queue or stream.
#[test]
fn no_event_source_grants_reads_of_every_stream_or_queue() {
    let mut found = Vec::new();
    for template in all_templates() {
        let doc = load(&template).expect("template");
        for finding in implicit_grants(&doc) {
            found.push(format!("{}: {finding}", relative(&template)));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Item 5 of the reliability issue: calls across instances are bounded. Every function
/// takes `ReservedConcurrency` (its `ReservedConcurrentExecutions`) and
/// `AlgorithmiaMaxConcurrency` (its `ALGORITHMIA_MAX_CONCURRENCY`) as parameters,
/// with defaults whose product fits Algorithmia's default account concurrency.
#[test]
fn every_function_bounds_its_calls_across_instances() {
    let mut problems = Vec::new();
    for template in templates() {
        let doc = load(&template).expect("template");
        for problem in concurrency_problems(&doc) {
            problems.push(format!("{}: {problem}", relative(&template)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Item 7 of the reliability issue: failures raise an alarm. Each blueprint has an
/// alarm on its failure queue's depth and one on its function's `Errors`, notifying the
/// topic `AlarmTopicArn` names (none by default).
#[test]
fn every_blueprint_alarms_on_its_failure_queue_and_function_errors() {
    let mut problems = Vec::new();
    for template in templates() {
        let doc = load(&template).expect("template");
        for problem in alarm_problems(&doc) {
            problems.push(format!("{}: {problem}", relative(&template)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check is not vacuous: the real template without its failure-queue alarm fails.
#[test]
fn the_alarm_check_catches_a_real_template_without_its_alarms() {
    let mut doc = load(&root().join("blueprints/s3-thumbnail/template.yaml")).expect("template");
    assert!(
        alarm_problems(&doc).is_empty(),
        "{:#?}",
        alarm_problems(&doc)
    );
    let resources = doc["Resources"].as_mapping_mut().expect("Resources");
    let alarms: Vec<Value> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(alarms.len(), 2, "{alarms:?}");
    for id in &alarms {
        resources.remove(id);
    }
    let found = alarm_problems(&doc);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("FailureQueue: no AWS::CloudWatch::Alarm"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("ThumbnailFunction: no AWS::CloudWatch::Alarm"),
        "{found:#?}"
    );
}

#[test]
fn every_function_builds_a_binary_of_the_workspace_for_arm64() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "{}", text(&output));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let bins = workspace_bins(&metadata);
    for bin in [
        "s3-thumbnail",
        "s3-transcribe",
        "dynamodb-predict",
        "blueprint-template",
        "algo-server-lambda",
    ] {
        assert!(bins.contains(bin), "{bin} in {bins:?}");
    }
    let mut problems = Vec::new();
    // app/ holds only nested applications: their own templates are checked here.
    for template in all_templates()
        .into_iter()
        .filter(|t| !t.ends_with("app/template.yaml"))
    {
        let doc = load(&template).expect("template");
        for problem in build_problems(&doc, &bins) {
            problems.push(format!("{}: {problem}", relative(&template)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// docs/extending.md's steps, as files: each folder `blueprints/NAME` (the starter
/// `_template` too) is a crate of the workspace (the members glob `blueprints/*`), with
/// settings, handler, main, tests, its template, SAM config, README and sample events.
#[test]
fn every_blueprint_follows_the_extending_steps() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Table = toml::from_str(&manifest).expect("Cargo.toml is TOML");
    let members: Vec<&str> = manifest["workspace"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(toml::Value::as_str)
        .collect();
    let mut missing = Vec::new();
    if !members.contains(&"blueprints/*") {
        missing.push(format!(
            "\"blueprints/*\" in the workspace's members {members:?}"
        ));
    }
    for blueprint in blueprints() {
        for file in [
            "Cargo.toml",
            "src/main.rs",
            "src/settings.rs",
            "src/handler.rs",
            "template.yaml",
            "samconfig.toml",
            "README.md",
        ] {
            if !blueprint.join(file).is_file() {
                missing.push(relative(&blueprint.join(file)));
            }
        }
        for (folder, extension) in [("tests", "rs"), ("events", "json")] {
            let count = std::fs::read_dir(blueprint.join(folder))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == extension))
                        .count()
                })
                .unwrap_or(0);
            if count == 0 {
                missing.push(format!("{}/{folder}/*.{extension}", relative(&blueprint)));
            }
        }
    }
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
}

/// `sam build --config-env app` and `sam deploy --config-env app` in `app/` do what the
/// plain commands do there: the `app` env is the `default` one.
#[test]
fn the_pipeline_has_an_app_config_env_equal_to_its_default() {
    let path = root().join("app/samconfig.toml");
    let text = std::fs::read_to_string(&path).expect("app/samconfig.toml");
    let config: toml::Table = toml::from_str(&text).expect("TOML");
    assert!(
        config.contains_key("app"),
        "no [app.*] env in {}",
        path.display()
    );
    assert_eq!(config["app"], config["default"], "{}", path.display());
    let capabilities = config["app"]["deploy"]["parameters"]["capabilities"]
        .as_str()
        .expect("capabilities");
    assert!(
        capabilities.contains("CAPABILITY_AUTO_EXPAND"),
        "nested applications need CAPABILITY_AUTO_EXPAND: {capabilities}"
    );
}
