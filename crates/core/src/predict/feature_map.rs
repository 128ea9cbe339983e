//! `FEATURES`: which of a record's values feed which of the model's inputs.

use serde_json::{Value, json};

use super::FEATURES;
use crate::env::SettingsError;
use crate::v1::contracts::predict::Instance;

/// What a blueprint calls the values of a record that feed the model, in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureNoun {
    /// One of them: "attribute", "field".
    pub one: &'static str,
    /// What `FEATURES` must list: "the feature attributes".
    pub listing: &'static str,
}

/// How `FEATURES` maps a record's values to the model's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureMap {
    /// `a,b,c`: names in the model's feature order (the first feeds the model's first
    /// feature, and so on), sent as positional instances `[a, b, c]`, so the names need
    /// not match the model's feature names.
    Positional(Vec<String>),
    /// `a=mean_radius,b=mean_texture`: each name with the model feature it feeds, in
    /// any order, sent as named instances `{"mean_radius": a, ...}`.
    Named(Vec<(String, String)>),
}

impl FeatureMap {
    /// Reads `FEATURES`: all `name` or all `name=feature`, comma-separated.
    pub fn parse(text: &str, noun: &FeatureNoun) -> Result<Self, SettingsError> {
        let one = noun.one;
        let bad = |problem: String| SettingsError::invalid(FEATURES, text, problem);
        let entries: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(bad(format!(
                "must list {}, comma-separated: in the model's feature order (a,b,c), or each with the model feature it feeds (a=mean_radius,b=mean_texture)",
                noun.listing
            )));
        }
        let named = entries.iter().filter(|e| e.contains('=')).count();
        let map = if named == 0 {
            FeatureMap::Positional(entries.iter().map(|e| (*e).to_owned()).collect())
        } else if named == entries.len() {
            let mut pairs = Vec::with_capacity(entries.len());
            for entry in &entries {
                let (name, feature) = entry.split_once('=').unwrap_or((entry, ""));
                let (name, feature) = (name.trim(), feature.trim());
                if name.is_empty() || feature.is_empty() {
                    return Err(bad(format!(
                        "{entry:?} is not {one}=feature: name both sides"
                    )));
                }
                pairs.push((name.to_owned(), feature.to_owned()));
            }
            if let Some(feature) = duplicate(pairs.iter().map(|(_, f)| f.as_str())) {
                return Err(bad(format!("feature {feature:?} is fed twice")));
            }
            FeatureMap::Named(pairs)
        } else {
            return Err(bad(format!(
                "mixes {one} and {one}=feature entries: use one form for all"
            )));
        };
        if let Some(name) = duplicate(map.names()) {
            return Err(bad(format!("{one} {name:?} is listed twice")));
        }
        Ok(map)
    }

    /// The record's names (attributes, fields), in `FEATURES` order.
    pub fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            FeatureMap::Positional(names) => Box::new(names.iter().map(String::as_str)),
            FeatureMap::Named(pairs) => Box::new(pairs.iter().map(|(n, _)| n.as_str())),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            FeatureMap::Positional(names) => names.len(),
            FeatureMap::Named(pairs) => pairs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One instance of the request from a record's values, in `FEATURES` order.
    pub fn instance(&self, values: &[(String, f64)]) -> Instance {
        match self {
            FeatureMap::Positional(_) => {
                Instance::Ordered(values.iter().map(|(_, v)| json!(v)).collect())
            }
            FeatureMap::Named(pairs) => Instance::Named(
                pairs
                    .iter()
                    .zip(values)
                    .map(|((_, feature), (_, v))| (feature.clone(), json!(v)))
                    .collect::<serde_json::Map<String, Value>>(),
            ),
        }
    }

    /// How the form reads in messages.
    pub fn describe(&self, noun: &FeatureNoun) -> String {
        let one = noun.one;
        match self {
            FeatureMap::Positional(_) => format!("{} {one}s by position", self.len()),
            FeatureMap::Named(_) => format!("{} {one}=feature pairs", self.len()),
        }
    }
}

fn duplicate<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    names.find(|name| !seen.insert(*name))
}
