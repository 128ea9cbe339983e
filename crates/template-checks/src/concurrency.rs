//! Calls across instances stay bounded: every function takes its reserved concurrency
//! (`ReservedConcurrentExecutions`) and its per-instance cap on calls in flight
//! (`ALGORITHMIA_MAX_CONCURRENCY`) from the parameters `ReservedConcurrency` and
//! `AlgorithmiaMaxConcurrency`, and their defaults multiply to at most the endpoint
//! capacity the docs assume (Algorithmia's default account concurrency, 80):
//! `ReservedConcurrency x AlgorithmiaMaxConcurrency <= capacity` (docs/reliability.md).

use serde_yaml::{Mapping, Value};

use crate::template::parameters;

/// The template parameter that sets `ReservedConcurrentExecutions`.
pub const RESERVED_CONCURRENCY: &str = "ReservedConcurrency";
/// The template parameter that sets `ALGORITHMIA_MAX_CONCURRENCY`.
pub const MAX_CONCURRENCY: &str = "AlgorithmiaMaxConcurrency";
/// Algorithmia's default account concurrency: what the defaults must fit.
pub const DEFAULT_ENDPOINT_CAPACITY: u64 = 80;

/// What keeps the template's calls from being bounded across instances. Empty is a pass.
pub fn concurrency_problems(template: &Value) -> Vec<String> {
    let parameters = parameters(template);
    let mut problems = Vec::new();
    let defaults: Vec<Option<u64>> = [RESERVED_CONCURRENCY, MAX_CONCURRENCY]
        .iter()
        .map(|name| {
            let default = number_parameter(parameters, name);
            if let Err(problem) = &default {
                problems.push(problem.clone());
            }
            default.ok()
        })
        .collect();
    if let [Some(reserved), Some(per_instance)] = defaults[..]
        && reserved.saturating_mul(per_instance) > DEFAULT_ENDPOINT_CAPACITY
    {
        problems.push(format!(
            "the defaults allow {reserved} x {per_instance} = {} calls at once, over the {DEFAULT_ENDPOINT_CAPACITY} an endpoint takes by default ({RESERVED_CONCURRENCY} x {MAX_CONCURRENCY} <= capacity)",
            reserved * per_instance
        ));
    }
    let globals = template.get("Globals").and_then(|g| g.get("Function"));
    let Some(resources) = template.get("Resources").and_then(Value::as_mapping) else {
        return problems;
    };
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().unwrap_or("?");
        let property = |name: &str| {
            resource
                .get("Properties")
                .and_then(|p| p.get(name))
                .or_else(|| globals.and_then(|g| g.get(name)))
        };
        if !property("ReservedConcurrentExecutions")
            .is_some_and(|v| refs(v).iter().any(|r| r == RESERVED_CONCURRENCY))
        {
            problems.push(format!(
                "{id}: ReservedConcurrentExecutions must come from the parameter {RESERVED_CONCURRENCY} (!Ref {RESERVED_CONCURRENCY})"
            ));
        }
        let variable = property("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(|v| v.get("ALGORITHMIA_MAX_CONCURRENCY"));
        if !variable.is_some_and(|v| refs(v).iter().any(|r| r == MAX_CONCURRENCY)) {
            problems.push(format!(
                "{id}: Environment ALGORITHMIA_MAX_CONCURRENCY must come from the parameter {MAX_CONCURRENCY} (!Ref {MAX_CONCURRENCY})"
            ));
        }
    }
    problems
}

/// The default of a `Number` parameter, or what is wrong with it.
fn number_parameter(parameters: &Mapping, name: &str) -> Result<u64, String> {
    let Some(parameter) = parameters.get(name) else {
        return Err(format!("Parameters lacks {name}"));
    };
    if parameter.get("Type").and_then(Value::as_str) != Some("Number") {
        return Err(format!("parameter {name} must be of Type Number"));
    }
    let default = parameter.get("Default");
    default
        .and_then(|d| {
            d.as_u64()
                .or_else(|| d.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or_else(|| format!("parameter {name} needs a whole-number Default, not {default:?}"))
}

/// The names a value refers to with `Ref` (short or long form), through any intrinsic.
fn refs(value: &Value) -> Vec<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged
            .value
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect(),
        Value::Tagged(tagged) => refs(&tagged.value),
        Value::Mapping(map) => map
            .iter()
            .flat_map(|(key, inner)| {
                if key.as_str() == Some("Ref") {
                    inner.as_str().map(str::to_owned).into_iter().collect()
                } else {
                    refs(inner)
                }
            })
            .collect(),
        Value::Sequence(items) => items.iter().flat_map(refs).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).expect("YAML")
    }

    const GOOD: &str = r#"
Parameters:
  ReservedConcurrency: {Type: Number, Default: 10}
  AlgorithmiaMaxConcurrency: {Type: Number, Default: 8}
Conditions:
  Reserve: !Not [!Equals [!Ref ReservedConcurrency, 0]]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      ReservedConcurrentExecutions: !If [Reserve, !Ref ReservedConcurrency, !Ref AWS::NoValue]
      Environment:
        Variables:
          ALGORITHMIA_MAX_CONCURRENCY: !Ref AlgorithmiaMaxConcurrency
"#;

    #[test]
    fn a_template_with_both_parameters_wired_passes() {
        assert_eq!(concurrency_problems(&yaml(GOOD)), Vec::<String>::new());
    }

    #[test]
    fn missing_parameters_unwired_functions_and_oversized_defaults_are_found() {
        let unwired = GOOD
            .replace(
                "      ReservedConcurrentExecutions: !If [Reserve, !Ref ReservedConcurrency, !Ref AWS::NoValue]\n",
                "",
            )
            .replace("!Ref AlgorithmiaMaxConcurrency", "\"80\"");
        let found = concurrency_problems(&yaml(&unwired));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("Fn: ReservedConcurrentExecutions"),
            "{found:#?}"
        );
        assert!(
            found[1].starts_with("Fn: Environment ALGORITHMIA_MAX_CONCURRENCY"),
            "{found:#?}"
        );

        let missing = GOOD.replace("  ReservedConcurrency: {Type: Number, Default: 10}\n", "");
        let found = concurrency_problems(&yaml(&missing));
        assert_eq!(found, ["Parameters lacks ReservedConcurrency"]);

        let oversized = GOOD.replace("Default: 8", "Default: 80");
        let found = concurrency_problems(&yaml(&oversized));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("10 x 80 = 800 calls at once"),
            "{found:#?}"
        );
    }
}
