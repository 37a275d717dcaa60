//! The layers of the configuration: defaults, then the file, then the environment,
//! then the flags, merged as a JSON tree; each key remembers where its value came
//! from, so errors can say.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ENV_PREFIX;

/// The environment variable of a dotted key.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

pub(super) fn source_of(sources: &BTreeMap<String, String>, key: &str) -> String {
    // serde_path_to_error names list items `key[0]`; their source is the list's.
    let base = key.split('[').next().unwrap_or(key);
    sources
        .get(base)
        .cloned()
        .unwrap_or_else(|| "the defaults".into())
}

pub(super) fn merge(
    tree: &mut Value,
    from: Value,
    prefix: &str,
    sources: &mut BTreeMap<String, String>,
    source: &str,
) {
    match (tree, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match into.get_mut(&k) {
                    Some(slot @ Value::Object(_)) if v.is_object() => {
                        merge(slot, v, &key, sources, source)
                    }
                    _ => {
                        // Unknown keys stay in the tree: deserializing names them.
                        sources.insert(key, source.into());
                        into.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => {
            sources.insert(prefix.into(), source.into());
            *slot = v;
        }
    }
}

/// Sets each leaf of `tree` whose environment variable is present.
pub(super) fn apply_env(
    tree: &mut Value,
    prefix: &str,
    env: &BTreeMap<String, String>,
    sources: &mut BTreeMap<String, String>,
    used: &mut Vec<String>,
) {
    let Value::Object(map) = tree else { return };
    for (k, slot) in map.iter_mut() {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if slot.is_object() {
            apply_env(slot, &key, env, sources, used);
            continue;
        }
        let name = env_name(&key);
        let Some(raw) = env.get(&name) else { continue };
        used.push(name.clone());
        sources.insert(key, format!("environment variable {name}"));
        *slot = match slot {
            // Text settings (and unset optional ones, which are all text) take the raw
            // value; numbers and booleans are parsed, so "abc" for a port fails loudly.
            Value::String(_) | Value::Null => Value::String(raw.clone()),
            Value::Array(_) => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.into()))
                    .collect(),
            ),
            Value::Bool(_) => match raw.as_str() {
                "true" | "1" | "yes" => Value::Bool(true),
                "false" | "0" | "no" => Value::Bool(false),
                _ => Value::String(raw.clone()),
            },
            Value::Number(_) => raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(raw.clone())),
            Value::Object(_) => continue,
        };
    }
}
