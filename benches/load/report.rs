//! `vchat-load-report`: folds the JSON results of a comparison run (benches/load/compare.sh)
//! into `sfu-vs-janus.json` and the charts RESULTS.md shows.
//!
//! ```text
//! vchat-load-report --results benches/results/load --out benches/results --commit $(git rev-parse HEAD)
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use serde_json::{Value, json};
use vchat_benches::runs::read_runs;
use vchat_benches::svg::{Series, line_chart};

#[derive(Debug, Parser)]
struct Args {
    /// Folder of the generator's JSON results.
    #[arg(long)]
    results: PathBuf,
    /// Where sfu-vs-janus.json and the SVG charts go.
    #[arg(long)]
    out: PathBuf,
    /// The commit measured.
    #[arg(long, default_value = "unknown")]
    commit: String,
    /// The commit the simulcast runs measured, when they were run apart (default: --commit).
    #[arg(long)]
    simulcast_commit: Option<String>,
}

/// Capacity criteria of the issue: loss under 0.5 %, p99 added latency under 5 ms.
const MAX_LOSS: f64 = 0.005;
const MAX_P99_US: f64 = 5000.0;
/// The p99 chart stops here: past it an SFU is overloaded and the rest is queueing.
const P99_CLIP_MS: f64 = 20.0;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = read_runs(&args.results)?;
    let of = |group: &str, target: &str| -> Vec<&Value> {
        runs.iter()
            .filter(|r| label_group(r) == group && r["target"] == target)
            .collect()
    };
    let mean = |rs: &[&Value], key: &str| -> Option<f64> {
        let values: Vec<f64> = rs.iter().filter_map(|r| r[key].as_f64()).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };

    let mut summary = BTreeMap::<String, Value>::new();
    summary.insert("commit".into(), json!(args.commit));
    // The simulcast groups: publishers of 3 layers (1 out per subscriber), and the
    // same calls with one layer in the same run (the day's 1:1 ratio).
    for (group, key) in [
        ("cpu-1to1", "1to1"),
        ("cpu-room4", "room4"),
        ("simulcast-1to1", "simulcast"),
        ("simulcast-ref", "simulcast_ref"),
    ] {
        let v = mean(&of(group, "vchat"), "sfu_cpu_us_per_forwarded_packet");
        let j = mean(&of(group, "janus"), "sfu_cpu_us_per_forwarded_packet");
        summary.insert(format!("vchat_cpu_us_per_packet_{key}"), json!(v));
        summary.insert(format!("janus_cpu_us_per_packet_{key}"), json!(j));
        summary.insert(
            format!("cpu_per_packet_ratio_{key}"),
            json!(v.zip(j).map(|(v, j)| v / j)),
        );
        summary.insert(
            format!("forwarded_pps_{key}"),
            json!(mean(&of(group, "vchat"), "forwarded_pps")),
        );
        summary.insert(
            format!("janus_loss_{key}"),
            json!(mean(&of(group, "janus"), "loss")),
        );
    }
    summary.insert(
        "cpu_per_packet_ratio".into(),
        summary["cpu_per_packet_ratio_1to1"].clone(),
    );
    // The issue's name for the simulcast ratio.
    summary.insert(
        "simulcast_cpu_per_packet_ratio".into(),
        summary["cpu_per_packet_ratio_simulcast"].clone(),
    );
    summary.insert(
        "simulcast_commit".into(),
        json!(args.simulcast_commit.as_ref().unwrap_or(&args.commit)),
    );

    // Capacity: the largest swept load each SFU carried within the criteria, and what
    // one core would carry at that cost per packet.
    let mut charts_cpu = Vec::new();
    let mut charts_p99 = Vec::new();
    let mut charts_util = Vec::new();
    for target in ["vchat", "janus"] {
        let mut sweep = of("capacity", target);
        sweep.sort_by(|a, b| a["rooms"].as_u64().cmp(&b["rooms"].as_u64()));
        let passing: Vec<&&Value> = sweep
            .iter()
            .filter(|r| {
                r["loss"].as_f64().unwrap_or(1.0) < MAX_LOSS
                    && r["latency_p99_us"].as_f64().unwrap_or(f64::MAX) < MAX_P99_US
            })
            .collect();
        let best = passing.iter().max_by(|a, b| {
            a["forwarded_pps"]
                .as_f64()
                .partial_cmp(&b["forwarded_pps"].as_f64())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let calls = best.and_then(|r| r["rooms"].as_u64());
        let pps = best.and_then(|r| r["forwarded_pps"].as_f64());
        let per_core = best.and_then(|r| {
            Some(r["forwarded_pps"].as_f64()? / r["sfu_cpu_util"].as_f64()?.max(0.01))
        });
        let generator_limited = best.is_some_and(|r| r["generator_limited"] == true)
            || sweep.last().is_some_and(|r| r["generator_limited"] == true);
        summary.insert(format!("{target}_max_calls_measured"), json!(calls));
        summary.insert(format!("{target}_max_pps_measured"), json!(pps));
        summary.insert(format!("{target}_pps_per_core"), json!(per_core));
        summary.insert(
            format!("{target}_sweep_generator_limited"),
            json!(generator_limited),
        );
        let point = |r: &&Value, key: &str, scale: f64, clip: f64| -> Option<(f64, f64)> {
            Some((r["rooms"].as_f64()?, (r[key].as_f64()? * scale).min(clip)))
        };
        charts_cpu.push(Series {
            name: target.into(),
            points: sweep
                .iter()
                .filter_map(|r| point(r, "sfu_cpu_us_per_forwarded_packet", 1.0, f64::MAX))
                .collect(),
        });
        charts_p99.push(Series {
            name: target.into(),
            points: sweep
                .iter()
                .filter_map(|r| point(r, "latency_p99_us", 1e-3, P99_CLIP_MS))
                .collect(),
        });
        charts_util.push(Series {
            name: target.into(),
            points: sweep
                .iter()
                .filter_map(|r| point(r, "sfu_cpu_util", 100.0, f64::MAX))
                .collect(),
        });
    }

    // Memory: RSS against connected participants, least-squares slope.
    let mut charts_rss = Vec::new();
    for target in ["vchat", "janus"] {
        let points: Vec<(f64, f64)> = of("memory", target)
            .iter()
            .filter_map(|r| Some((r["participants"].as_f64()?, r["sfu_rss_bytes"].as_f64()?)))
            .collect();
        summary.insert(
            format!("{target}_rss_per_peer_bytes"),
            json!(slope(&points)),
        );
        charts_rss.push(Series {
            name: target.into(),
            points: points.iter().map(|(x, y)| (*x, y / 1e6)).collect(),
        });
    }

    // Join: signaling start to the first complete keyframe, over the CPU runs.
    for target in ["vchat", "janus"] {
        let rs = of("cpu-1to1", target);
        summary.insert(
            format!("{target}_first_frame_ms_p50"),
            json!(mean(&rs, "first_frame_ms_p50")),
        );
        summary.insert(
            format!("{target}_first_frame_ms_p99"),
            json!(mean(&rs, "first_frame_ms_p99")),
        );
    }
    summary.insert(
        "first_frame_ms_p50".into(),
        summary["vchat_first_frame_ms_p50"].clone(),
    );
    summary.insert(
        "first_frame_ms_p99".into(),
        summary["vchat_first_frame_ms_p99"].clone(),
    );
    summary.insert(
        "vchat_rss_per_peer_bytes".into(),
        summary["vchat_rss_per_peer_bytes"].clone(),
    );
    // Simulcast against the same calls without it, run by run (A B A B order).
    let mut charts_simulcast = Vec::new();
    for (group, what) in [
        ("simulcast-1to1", "simulcast"),
        ("simulcast-ref", "one layer"),
    ] {
        for target in ["vchat", "janus"] {
            let mut rs = of(group, target);
            rs.sort_by_key(|r| r["label"].as_str().unwrap_or("").to_string());
            charts_simulcast.push(Series {
                name: format!("{target}, {what}"),
                points: rs
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        Some((
                            (i + 1) as f64,
                            r["sfu_cpu_us_per_forwarded_packet"].as_f64()?,
                        ))
                    })
                    .collect(),
            });
        }
    }
    summary.insert("runs".into(), json!(runs.len()));

    std::fs::create_dir_all(&args.out)?;
    let text = serde_json::to_string_pretty(&summary)?;
    std::fs::write(args.out.join("sfu-vs-janus.json"), format!("{text}\n"))?;
    std::fs::write(
        args.out.join("sfu-cpu-util.svg"),
        line_chart(
            "SFU CPU, one core each, against 1:1 calls",
            "1:1 calls",
            "% of one core",
            &charts_util,
        ),
    )?;
    if charts_simulcast.iter().any(|s| !s.points.is_empty()) {
        std::fs::write(
            args.out.join("sfu-simulcast-cpu.svg"),
            line_chart(
                "CPU per forwarded packet, 30 calls: simulcast publishers and one layer",
                "run",
                "µs of SFU CPU per packet",
                &charts_simulcast,
            ),
        )?;
    }
    std::fs::write(
        args.out.join("sfu-cpu-per-packet.svg"),
        line_chart(
            "CPU per forwarded packet against 1:1 calls",
            "1:1 calls",
            "µs of SFU CPU per packet",
            &charts_cpu,
        ),
    )?;
    std::fs::write(
        args.out.join("sfu-latency-p99.svg"),
        line_chart(
            "p99 one-way added latency (drawn up to 20 ms)",
            "1:1 calls",
            "p99 latency (ms)",
            &charts_p99,
        ),
    )?;
    std::fs::write(
        args.out.join("sfu-rss.svg"),
        line_chart(
            "Resident memory against participants (1:1 calls)",
            "connected participants",
            "RSS (MB)",
            &charts_rss,
        ),
    )?;
    println!("{text}");
    Ok(())
}

/// The group of a run: its label up to the first '/'.
fn label_group(run: &Value) -> &str {
    run["label"]
        .as_str()
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("")
}

/// Least-squares slope of y over x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let cov: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    (var > 0.0).then(|| cov / var)
}
