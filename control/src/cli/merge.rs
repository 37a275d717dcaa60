//! `vchat recording merge`: the server's merge, run by hand on a call's captures
//! (to look at a call that failed to merge, or to try the other audio mode).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use vchat_recorder::merge::{AudioMode, CallCaptures, MergeOptions, merge_with};

fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Merges the captures in `dir` into `out`, showing how far along the call it is.
pub fn merge(dir: &Path, out: &Path, audio: &str) -> anyhow::Result<()> {
    let audio = match audio {
        "passthrough" => AudioMode::Passthrough,
        "reencode" => AudioMode::Reencode,
        _ => AudioMode::Auto,
    };
    let captures = CallCaptures::open_dir(dir)
        .with_context(|| format!("cannot read the captures in {}", dir.display()))?;
    for bad in &captures.unreadable {
        eprintln!("skipped {bad}");
    }
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut progress = |ms: u64| {
        // On a terminal one line redrawn; in a log a line every ten seconds of work.
        if tty {
            eprint!("\rmerging: {} of the call", clock(ms));
            let _ = std::io::stderr().flush();
        } else if last_line.elapsed().as_secs() >= 10 {
            eprintln!("merging: {} of the call", clock(ms));
            last_line = Instant::now();
        }
    };
    let report = merge_with(
        &captures,
        out,
        MergeOptions {
            audio,
            progress: Some(&mut progress),
        },
    )
    .with_context(|| format!("cannot merge into {}", out.display()))?;
    if tty {
        eprintln!();
    }
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: {} of call, {:.1} MB, audio {}, video {} frames copied ({} dropped){}, in {:.2} s",
        out.display(),
        clock(u64::try_from(report.duration_ms).unwrap_or(0)),
        size as f64 / 1e6,
        match report.audio {
            AudioMode::Passthrough => "passed through (the parties' own Opus packets)",
            _ => "re-encoded (stereo Opus 64 kbit/s)",
        },
        report.video.frames,
        report.video.dropped,
        if report.torn_bytes > 0 {
            format!(", {} torn bytes dropped", report.torn_bytes)
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}
