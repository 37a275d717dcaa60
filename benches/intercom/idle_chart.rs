//! Draws benches/results/intercom-idle.json (written by benches/intercom/idle.sh):
//! devices online and vchat's resident memory over the run, as an SVG.
//!
//!   vchat-intercom-idle-chart benches/results/intercom-idle.json benches/results/intercom-idle.svg

use anyhow::Context;
use vchat_benches::svg::{Series, line_chart};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (input, output) = (
        args.next().context("the JSON to read")?,
        args.next().context("the SVG to write")?,
    );
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&input)?)?;
    let samples = run["samples"].as_array().context("samples")?;
    let point = |key: &str, scale: f64| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter_map(|s| Some((s["t"].as_f64()?, s[key].as_f64()? / scale)))
            .collect()
    };
    let devices = run["devices"].as_u64().unwrap_or(0);
    let chart = line_chart(
        &format!("{devices} idle intercoms on one node"),
        "seconds",
        "devices online (thousands) / RSS (MiB ÷ 100)",
        &[
            Series {
                name: "devices online, thousands".into(),
                points: point("online", 1000.0),
            },
            Series {
                name: "vchat RSS, MiB ÷ 100".into(),
                points: point("rss_bytes", 1048576.0 * 100.0),
            },
        ],
    );
    std::fs::write(&output, chart)?;
    println!("→ {output}");
    Ok(())
}
