//! A network namespace a test makes for itself, and code run inside it.
//!
//! Some peers never use loopback (libnice, in GStreamer's webrtcbin, gathers no
//! 127.0.0.1 candidate; Firefox pairs none), so they need an ordinary interface. The
//! namespace holds a veth pair — both ends inside it, nothing added to the host's
//! interfaces — whose first end carries [`Netns::ADDR`] and the default route: every
//! packet of the test stays in the namespace.
//!
//! [`Netns::run`] runs async code on a thread moved into the namespace (`setns`): the
//! sockets it opens, the threads it starts (a whole `TestServer`, its SFU workers) and
//! the processes it spawns all live there. Needs root, as `ip netns` does.

use std::future::Future;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;

use anyhow::{Context, bail};

/// A namespace, deleted (with its veth pair) when dropped.
pub struct Netns {
    name: String,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("ip (Debian package iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Netns {
    /// The address of the namespace's interface.
    pub const ADDR: &'static str = "10.231.9.1";

    /// Makes `vchat-<tag>-<pid>` with `lo` up and the veth pair.
    pub fn create(tag: &str) -> anyhow::Result<Netns> {
        let name = format!("vchat-{tag}-{}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        let n = ns.name.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", n, "link", "add", "vta", "type", "veth", "peer", "name", "vtb",
        ])?;
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{}/24", Self::ADDR),
            "dev",
            "vta",
        ])?;
        ip(&["-n", n, "link", "set", "vta", "up"])?;
        ip(&["-n", n, "link", "set", "vtb", "up"])?;
        // Without a default route some ICE agents gather nothing at all.
        ip(&["-n", n, "route", "add", "default", "dev", "vta"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface address as an `IpAddr`.
    pub fn addr() -> IpAddr {
        Self::ADDR.parse().expect("a valid address")
    }

    /// Runs `make()`'s future to its end on a thread inside the namespace, with a
    /// multi-threaded tokio runtime of its own (whose threads are inside it too).
    pub fn run<F, Fut, T>(&self, make: F) -> anyhow::Result<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<T>>,
        T: Send + 'static,
    {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || -> anyhow::Result<T> {
            let file = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
            // SAFETY: setns takes a file descriptor we hold open and a namespace type;
            // it changes only this thread's network namespace.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                bail!("setns {path}: {}", std::io::Error::last_os_error());
            }
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(make())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes its veth pair with it.
        let _ = ip(&["netns", "del", &self.name]);
    }
}
