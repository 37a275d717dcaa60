//! Reading the per-run JSON results the comparison scripts leave in a folder.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// Every `*.json` in `dir`, parsed; a file that does not parse names itself.
pub fn read_runs(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            runs.push(
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?,
            );
        }
    }
    Ok(runs)
}
