//! `vchat-turn-report`: folds the JSON results of benches/turn/compare.sh (and of the
//! relayed-call runs, when present) into `turn-vs-coturn.json` and the charts
//! RESULTS.md shows.
//!
//! ```text
//! vchat-turn-report --results benches/results/turn --out benches/results --commit $(git rev-parse HEAD)
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use serde_json::{Value, json};
use vchat_benches::runs::read_runs;
use vchat_benches::svg::{Series, line_chart};

#[derive(Debug, Parser)]
struct Args {
    /// Folder of the per-run JSON results.
    #[arg(long)]
    results: PathBuf,
    /// Where turn-vs-coturn.json and the SVG charts go.
    #[arg(long)]
    out: PathBuf,
    /// The commit measured.
    #[arg(long, default_value = "unknown")]
    commit: String,
}

/// Relayed packets per second, loss (%) and CPU µs per packet of one load level.
type Level = (f64, f64, f64);
/// Levels by (target, uclient processes).
type Levels = BTreeMap<(String, u64), Level>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = read_runs(&args.results)?;
    let relayed =
        |r: &Value| r["sent"].as_f64().unwrap_or(0.0) + r["received"].as_f64().unwrap_or(0.0);
    let mean = |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
    let flood = |target: &str| -> Vec<&Value> {
        runs.iter()
            .filter(|r| r["kind"] == "flood" && r["target"] == target)
            .collect()
    };
    let per_packet = |rs: &[&Value]| {
        mean(
            rs.iter()
                .map(|r| r["cpu_s"].as_f64().unwrap_or(0.0) * 1e6 / relayed(r).max(1.0))
                .collect(),
        )
    };
    let avg = |rs: &[&Value], key: &str| mean(rs.iter().filter_map(|r| r[key].as_f64()).collect());
    let (v, c) = (flood("vchat"), flood("coturn"));
    let (v_us, c_us) = (per_packet(&v), per_packet(&c));

    // Saturation: relayed packets per second, loss and CPU per packet, per number of
    // client processes (mean over rounds; loss is the worst round's).
    let fold = |kind: &str| -> Levels {
        let mut by_level: BTreeMap<(String, u64), Vec<Level>> = BTreeMap::new();
        for r in runs.iter().filter(|r| r["kind"] == kind) {
            let target = r["target"].as_str().unwrap_or("?").to_string();
            let n = r["clients"].as_u64().unwrap_or(0);
            // uclient's sending time; the wall time also holds its (serial) allocations.
            let wall = r["transmit_s"]
                .as_f64()
                .filter(|t| *t > 0.0)
                .or(r["wall_s"].as_f64())
                .unwrap_or(1.0)
                .max(0.001);
            by_level.entry((target, n)).or_default().push((
                relayed(r) / wall,
                r["loss_pct"].as_f64().unwrap_or(100.0),
                r["cpu_s"].as_f64().unwrap_or(0.0) * 1e6 / relayed(r).max(1.0),
            ));
        }
        by_level
            .into_iter()
            .map(|(k, xs)| {
                let n = xs.len() as f64;
                let pps = xs.iter().map(|x| x.0).sum::<f64>() / n;
                let loss = xs.iter().map(|x| x.1).fold(0.0, f64::max);
                let us = xs.iter().map(|x| x.2).sum::<f64>() / n;
                (k, (pps, loss, us))
            })
            .collect()
    };
    let levels = fold("saturation");
    let contended = fold("contended");
    // The most uclient processes whose runs all stayed under 1 % loss.
    let best_under_1pct = |levels: &Levels, target: &str| -> Option<u64> {
        levels
            .iter()
            .filter(|((t, _), (_, loss, _))| t == target && *loss < 1.0)
            .map(|((_, n), _)| *n)
            .max()
    };
    let table = |levels: &Levels| -> Vec<Value> {
        levels
            .iter()
            .map(|((t, n), (pps, loss, us))| json!({"target": t, "clients": n, "relayed_pps": pps.round(), "loss_pct": loss, "cpu_us_per_packet": us}))
            .collect()
    };
    let saturation = table(&levels);

    // The relayed call (benches/turn/call.sh): vchat-load results labelled
    // "relayed-call"; janus's CPU there is janus's and coturn's together.
    let call = |target: &str| -> Vec<&Value> {
        runs.iter()
            .filter(|r| r["label"] == "relayed-call" && r["target"] == target)
            .collect()
    };
    let (call_v, call_j) = (call("vchat"), call("janus"));
    let call_us = |rs: &[&Value]| avg(rs, "sfu_cpu_us_per_forwarded_packet");
    let call_ratio = match (call_us(&call_v), call_us(&call_j)) {
        (Some(a), Some(b)) => Some(a / b),
        _ => None,
    };
    let call_summary = |rs: &[&Value]| {
        json!({
            "runs": rs.len(),
            "cpu_us_per_forwarded_packet": call_us(rs),
            "forwarded_pps": avg(rs, "forwarded_pps"),
            "loss": avg(rs, "loss"),
            "latency_p99_us": avg(rs, "latency_p99_us"),
            "connected_peers": avg(rs, "connected_peers"),
        })
    };

    let ratio = match (v_us, c_us) {
        (Some(a), Some(b)) => Some(a / b),
        _ => None,
    };
    let summary = json!({
        "cpu_per_packet_ratio": ratio,
        "vchat_cpu_us_per_packet": v_us,
        "coturn_cpu_us_per_packet": c_us,
        "vchat_loss_pct": avg(&v, "loss_pct"),
        "coturn_loss_pct": avg(&c, "loss_pct"),
        "vchat_rtt_ms": avg(&v, "rtt_ms"),
        "coturn_rtt_ms": avg(&c, "rtt_ms"),
        "flood_runs": { "vchat": v.len(), "coturn": c.len() },
        "vchat_max_clients_under_1pct_loss": best_under_1pct(&levels, "vchat"),
        "coturn_max_clients_under_1pct_loss": best_under_1pct(&levels, "coturn"),
        "saturation_clients_tried": levels.keys().map(|(_, n)| *n).max(),
        "contended": table(&contended),
        "vchat_max_clients_under_1pct_loss_contended": best_under_1pct(&contended, "vchat"),
        "coturn_max_clients_under_1pct_loss_contended": best_under_1pct(&contended, "coturn"),
        "saturation": saturation,
        "relayed_call_cpu_ratio": call_ratio,
        "relayed_call": { "vchat": call_summary(&call_v), "janus+coturn": call_summary(&call_j) },
        "commit": args.commit,
    });
    std::fs::create_dir_all(&args.out)?;
    let file = args.out.join("turn-vs-coturn.json");
    std::fs::write(&file, serde_json::to_string_pretty(&summary)? + "\n")?;

    let series_of = |levels: &Levels, metric: usize| -> Vec<Series> {
        ["vchat", "coturn"]
            .iter()
            .map(|t| Series {
                name: t.to_string(),
                points: levels
                    .iter()
                    .filter(|((target, _), _)| target == t)
                    .map(|((_, n), vals)| (*n as f64, [vals.0 / 1000.0, vals.1, vals.2][metric]))
                    .collect(),
            })
            .collect()
    };
    std::fs::write(
        args.out.join("turn-saturation-pps.svg"),
        line_chart(
            "TURN relay: packets relayed per second",
            "uclient processes (50 sessions each)",
            "kpps relayed",
            &series_of(&levels, 0),
        ),
    )?;
    std::fs::write(
        args.out.join("turn-saturation-loss.svg"),
        line_chart(
            "TURN relay: loss as load grows",
            "uclient processes (50 sessions each)",
            "loss %",
            &series_of(&levels, 1),
        ),
    )?;
    std::fs::write(
        args.out.join("turn-saturation-cpu.svg"),
        line_chart(
            "TURN relay: server CPU per relayed packet",
            "uclient processes (50 sessions each)",
            "µs per packet",
            &series_of(&levels, 2),
        ),
    )?;
    std::fs::write(
        args.out.join("turn-contended-loss.svg"),
        line_chart(
            "TURN relay sharing its core with the clients: loss (worst round)",
            "uclient processes (50 sessions each)",
            "loss %",
            &series_of(&contended, 1),
        ),
    )?;
    // Per round, side by side: the flood (standalone relay) and the relayed call.
    let by_round = |rs: &[&Value], value: &dyn Fn(&Value) -> f64| -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = rs
            .iter()
            .map(|r| {
                // vchat-load results carry no round: they are numbered in order below.
                (r["round"].as_f64().unwrap_or(0.0), value(r))
            })
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (i, p) in points.iter_mut().enumerate() {
            if p.0 == 0.0 {
                p.0 = (i + 1) as f64;
            }
        }
        points
    };
    let flood_us = |r: &Value| r["cpu_s"].as_f64().unwrap_or(0.0) * 1e6 / relayed(r).max(1.0);
    std::fs::write(
        args.out.join("turn-flood-cpu.svg"),
        line_chart(
            "Standalone relay, uclient flood: server CPU per relayed packet",
            "round",
            "µs per relayed packet",
            &[
                Series {
                    name: "vchat".into(),
                    points: by_round(&v, &flood_us),
                },
                Series {
                    name: "coturn 4.6.1".into(),
                    points: by_round(&c, &flood_us),
                },
            ],
        ),
    )?;
    let call_us_of = |r: &Value| r["sfu_cpu_us_per_forwarded_packet"].as_f64().unwrap_or(0.0);
    std::fs::write(
        args.out.join("turn-relayed-call-cpu.svg"),
        line_chart(
            "Relayed one-to-one calls: server CPU per forwarded packet",
            "round",
            "µs per forwarded packet",
            &[
                Series {
                    name: "vchat (TURN + SFU, one process)".into(),
                    points: by_round(&call_v, &call_us_of),
                },
                Series {
                    name: "coturn + janus".into(),
                    points: by_round(&call_j, &call_us_of),
                },
            ],
        ),
    )?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
