//! `vchat-merge-report`: folds the runs of benches/merge/compare.sh into
//! `merge-vs-ffmpeg.json` and the charts RESULTS.md shows.
//!
//! ```text
//! vchat-merge-report --runs benches/results/merge/runs.jsonl --out benches/results --commit abc1234
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};
use vchat_benches::svg::{Series, line_chart};

#[derive(Debug, Parser)]
struct Args {
    /// The runs, one JSON object per line.
    #[arg(long)]
    runs: PathBuf,
    /// Where merge-vs-ffmpeg.json and the SVG charts go.
    #[arg(long)]
    out: PathBuf,
    /// The commit measured.
    #[arg(long, default_value = "unknown")]
    commit: String,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

const LABELS: [&str; 3] = ["vchat-passthrough", "vchat-reencode", "ffmpeg"];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.runs)
        .with_context(|| format!("read {}", args.runs.display()))?;
    let runs: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    if let Some(bad) = runs.iter().find(|r| r["exit"] != 0) {
        anyhow::bail!("a run failed: {bad}");
    }
    // (label, minutes) -> runs
    let mut groups: BTreeMap<(String, u64), Vec<&Value>> = BTreeMap::new();
    for r in &runs {
        let label = r["label"].as_str().unwrap_or("?").to_string();
        groups
            .entry((label, r["minutes"].as_u64().unwrap_or(0)))
            .or_default()
            .push(r);
    }
    let stat = |label: &str, minutes: u64, field: &str| -> Option<f64> {
        let g = groups.get(&(label.to_string(), minutes))?;
        Some(median(g.iter().filter_map(|r| r[field].as_f64()).collect()))
    };
    let peak = |label: &str, minutes: u64| -> Option<u64> {
        groups
            .get(&(label.to_string(), minutes))?
            .iter()
            .filter_map(|r| r["peak_rss_bytes"].as_u64())
            .max()
    };
    let lengths: Vec<u64> = {
        let mut v: Vec<u64> = groups.keys().map(|(_, m)| *m).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let longest = *lengths.last().context("no runs")?;
    let ffmpeg_s = stat("ffmpeg", longest, "wall_s").context("no ffmpeg runs")?;
    let vchat_s = stat("vchat-passthrough", longest, "wall_s").context("no vchat runs")?;
    let reencode_s = stat("vchat-reencode", longest, "wall_s");
    let by_length: Vec<Value> = groups
        .iter()
        .map(|((label, minutes), g)| {
            let first = g[0];
            json!({
                "label": label,
                "minutes": minutes,
                "runs": g.len(),
                "wall_s": g.iter().map(|r| r["wall_s"].clone()).collect::<Vec<_>>(),
                "median_wall_s": stat(label, *minutes, "wall_s"),
                "median_cpu_s": stat(label, *minutes, "cpu_s"),
                "peak_rss_bytes": peak(label, *minutes),
                "duration_s": first["duration_s"],
                "streams": first["streams"],
                "size_bytes": first["size_bytes"],
                "left_hz": first["left_hz"],
                "right_hz": first["right_hz"],
                "command": first["command"],
            })
        })
        .collect();
    let summary = json!({
        "commit": args.commit,
        "minutes": longest,
        "time_ratio": vchat_s / ffmpeg_s,
        "vchat_s": vchat_s,
        "ffmpeg_s": ffmpeg_s,
        "peak_rss_bytes": peak("vchat-passthrough", longest),
        "peak_rss_bytes_by_minutes": lengths.iter().map(|m| json!({
            "minutes": m,
            "vchat_passthrough": peak("vchat-passthrough", *m),
            "vchat_reencode": peak("vchat-reencode", *m),
            "ffmpeg": peak("ffmpeg", *m),
        })).collect::<Vec<_>>(),
        "reencode": {
            "time_ratio": reencode_s.map(|s| s / ffmpeg_s),
            "vchat_s": reencode_s,
            "peak_rss_bytes": peak("vchat-reencode", longest),
        },
        "ffmpeg_peak_rss_bytes": peak("ffmpeg", longest),
        "by_length": by_length,
    });
    let path = args.out.join("merge-vs-ffmpeg.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&summary["by_length"])?);
    println!(
        "{longest} min: vchat {vchat_s:.2} s, ffmpeg {ffmpeg_s:.2} s: time_ratio {:.3}; re-encoding {:?} s",
        vchat_s / ffmpeg_s,
        reencode_s
    );

    let series = |f: &dyn Fn(&str, u64) -> Option<f64>| -> Vec<Series> {
        LABELS
            .iter()
            .map(|label| Series {
                name: (*label).to_string(),
                points: lengths
                    .iter()
                    .filter_map(|m| Some((*m as f64, f(label, *m)?)))
                    .collect(),
            })
            .collect()
    };
    let time = series(&|l, m| stat(l, m, "wall_s"));
    std::fs::write(
        args.out.join("merge-time.svg"),
        line_chart(
            "Merge of a recorded call, one core (median wall time)",
            "call length, minutes",
            "seconds",
            &time,
        ),
    )?;
    let rss = series(&|l, m| peak(l, m).map(|b| b as f64 / 1e6));
    std::fs::write(
        args.out.join("merge-rss.svg"),
        line_chart(
            "Peak memory of the merge",
            "call length, minutes",
            "peak RSS, MB",
            &rss,
        ),
    )?;
    println!("wrote {}", path.display());
    Ok(())
}
