//! `vchat serve` as a separate process, for tests that kill it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};

/// The `vchat` binary next to the test binaries (`cargo build` makes it).
pub fn vchat_bin() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("VCHAT_BIN") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe()?;
    // target/debug/deps/<test> → target/debug/vchat
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary location")?
        .join("vchat");
    if !bin.exists() {
        bail!(
            "{} is missing: run `cargo build -p vchat-control` first",
            bin.display()
        );
    }
    Ok(bin)
}

/// A running `vchat serve`.
pub struct VchatProcess {
    child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl VchatProcess {
    /// Starts `vchat serve` on `data` with free ports and `env` on top; returns once
    /// `/healthz` answers.
    pub async fn start(data: &Path, env: &[(&str, &str)]) -> anyhow::Result<VchatProcess> {
        crate::init_crypto();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = tokio::process::Command::new(vchat_bin()?);
        command
            .args(["serve", "--http", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .env("VCHAT_MEDIA_PORT", "0")
            .env("VCHAT_TURN_ENABLED", "false")
            .env("VCHAT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
                && r.status() == 200
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("vchat serve exited: {status}");
            }
            if tokio::time::Instant::now() > deadline {
                bail!("vchat serve did not answer in 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(VchatProcess { child, base })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// SIGKILL, and wait for it to be gone.
    pub async fn kill9(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// SIGTERM, and wait for the exit status.
    pub async fn stop(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("pid")?;
        std::process::Command::new("kill")
            .arg(pid.to_string())
            .status()?;
        Ok(tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??)
    }
}

/// A `Vm*` figure of `/proc/<pid>/status`, in bytes (`VmRSS`, `VmHWM`).
pub fn vm_bytes(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .with_context(|| format!("{field} in /proc/{pid}/status"))?;
    let kb: u64 = line.split_whitespace().nth(1).context("value")?.parse()?;
    Ok(kb * 1024)
}

/// `vchat user add` into `data`.
pub fn add_user(data: &Path, login: &str, role: &str, password: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new(vchat_bin()?)
        .args(["user", "add", "--login", login, "--role", role, "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{password}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("vchat user add: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
