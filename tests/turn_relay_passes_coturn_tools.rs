//! coturn's own client, `turnutils_uclient`, against vchat's relay: UDP, TCP and TLS;
//! static credentials and the shared secret; channels and Send indications; an
//! audio-like rate (`-m 100 -n 200 -l 170 -z 20`) with no loss. The echo peer is
//! coturn's `turnutils_peer` on 127.0.0.1, so the loopback allowance is on here.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use vchat_tests::TestServer;

const USER: &str = "bench";
const PASSWORD: &str = "benchpass";
const SECRET: &str = "benchsecret-0123456789";

struct Peer(Child, u16);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_peer() -> anyhow::Result<Peer> {
    start_peer_on("127.0.0.1")
}

fn start_peer_on(ip: &str) -> anyhow::Result<Peer> {
    let port = std::net::UdpSocket::bind((ip, 0))?.local_addr()?.port();
    let child = Command::new("turnutils_peer")
        .args(["-L", ip, "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("turnutils_peer (Debian package coturn) must be installed")?;
    std::thread::sleep(Duration::from_millis(300));
    Ok(Peer(child, port))
}

/// Loss (percent) and average round trip (ms) that one uclient run reports.
fn uclient(args: &[&str], server: SocketAddr, peer: u16) -> anyhow::Result<(f64, f64, String)> {
    let load = ["-m", "100", "-n", "200", "-l", "170", "-z", "20"];
    uclient_with(args, server, peer, "127.0.0.1", "-X", &load)
}

/// One uclient run against `server`, echo peer `ip:peer`, relay family flag `family`.
fn uclient_with(
    args: &[&str],
    server: SocketAddr,
    peer: u16,
    ip: &str,
    family: &str,
    load: &[&str],
) -> anyhow::Result<(f64, f64, String)> {
    let port = server.port().to_string();
    let peer = peer.to_string();
    let mut all: Vec<&str> = vec![
        "60",
        "turnutils_uclient",
        "-p",
        &port,
        "-e",
        ip,
        "-r",
        &peer,
        family,
        "-c",
    ];
    all.extend_from_slice(args);
    all.extend_from_slice(load);
    all.push(ip);
    let out = Command::new("timeout").args(&all).output()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let field = |marker: &str, after: &str| -> Option<f64> {
        let line = text.lines().rev().find(|l| l.contains(marker))?;
        let rest = &line[line.find(after)? + after.len()..];
        rest.trim_start()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?
            .parse()
            .ok()
    };
    let (Some(loss), Some(rtt)) = (
        field("Total lost packets", "("),
        field("Average round trip delay", "delay"),
    ) else {
        bail!(
            "uclient {args:?} gave no result (exit {:?}):\n{}",
            out.status.code(),
            tail(&text)
        );
    };
    let sent = field("tot_send_msgs", "tot_send_msgs=").unwrap_or(0.0);
    let received = field("tot_recv_msgs", "tot_recv_msgs=").unwrap_or(0.0);
    if out.status.code() != Some(0) {
        bail!(
            "uclient {args:?} exited {:?}:\n{}",
            out.status.code(),
            tail(&text)
        );
    }
    Ok((
        loss,
        rtt,
        format!("{sent} messages sent, {received} echoed"),
    ))
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn coturn_uclient_passes_over_udp_tcp_and_tls_with_both_credentials() -> anyhow::Result<()> {
    let users = format!("{USER}:{PASSWORD}");
    let server = TestServer::start_with(&[
        ("VCHAT_TURN_USERS", users.as_str()),
        ("VCHAT_TURN_SECRET", SECRET),
        ("VCHAT_TURN_ALLOW_LOOPBACK_PEERS_DANGEROUSLY", "true"),
        ("VCHAT_TURN_USER_QUOTA", "1000"),
    ])
    .await?;
    let (udp, tcp, tls) = server.turn_addrs();
    let (udp, tcp, tls) = (
        udp.context("udp")?,
        tcp.context("tcp")?,
        tls.context("tls")?,
    );
    let peers = [start_peer()?, start_peer()?, start_peer()?, start_peer()?];

    let static_creds: &[&str] = &["-u", USER, "-w", PASSWORD];
    let rest_creds: &[&str] = &["-W", SECRET, "-u", "someone"];
    let mut runs = Vec::new();
    for (transport, addr, flags) in [
        ("udp", udp, &[][..]),
        ("tcp", tcp, &["-t"][..]),
        ("tls", tls, &["-S", "-t"][..]),
    ] {
        for (creds_name, creds) in [("static", static_creds), ("secret", rest_creds)] {
            for (method, extra) in [("channels", &[][..]), ("send", &["-s"][..])] {
                let mut args: Vec<&str> = flags.to_vec();
                args.extend_from_slice(creds);
                args.extend_from_slice(extra);
                runs.push((
                    format!("{transport}/{creds_name}/{method}"),
                    addr,
                    args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                ));
            }
        }
    }
    // Four at a time (one per peer): the two cores also run the server.
    let mut failures = Vec::new();
    for chunk in runs.chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .zip(peers.iter())
            .map(|((name, addr, args), peer)| {
                let (name, addr, args, port) = (name.clone(), *addr, args.clone(), peer.1);
                std::thread::spawn(move || {
                    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                    (name, uclient(&refs, addr, port))
                })
            })
            .collect();
        for h in handles {
            let (name, result) = h.join().expect("uclient thread");
            match result {
                Ok((loss, rtt, sent)) => {
                    eprintln!("{name}: loss {loss}%, average RTT {rtt} ms, {sent}");
                    if loss != 0.0 {
                        failures.push(format!("{name}: {loss}% loss"));
                    }
                }
                Err(e) => failures.push(format!("{name}: {e:#}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "uclient runs failed:\n{}",
        failures.join("\n")
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    for transport in ["udp", "tcp", "tls"] {
        let text = reqwest::get(format!("{}/metrics", server.base))
            .await?
            .text()
            .await?;
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("vchat_turn_relayed_packets_total{{transport=\"{transport}\",direction=\"to_peer\"}}")))
            .context("relayed packets metric")?;
        let n: f64 = line.rsplit(' ').next().unwrap_or("0").parse()?;
        eprintln!("{line}");
        assert!(n >= 4.0 * 100.0 * 200.0, "{transport}: {n} packets relayed");
    }
    assert_eq!(server.metric("vchat_turn_auth_failures_total").await?, 0.0);
    server.stop().await
}

/// RFC 6156: an IPv6 relayed address (`-x`), over IPv6 to the relay and to the peer.
#[tokio::test(flavor = "multi_thread")]
async fn coturn_uclient_gets_an_ipv6_relay() -> anyhow::Result<()> {
    let users = format!("{USER}:{PASSWORD}");
    let server = TestServer::start_with(&[
        ("VCHAT_TURN_USERS", users.as_str()),
        ("VCHAT_TURN_LISTEN_IP", "::1"),
        ("VCHAT_TURN_RELAY_IPV6", "::1"),
        ("VCHAT_TURN_ALLOW_LOOPBACK_PEERS_DANGEROUSLY", "true"),
        ("VCHAT_TURN_TLS", "false"),
    ])
    .await?;
    let udp = server.turn_addrs().0.context("udp")?;
    let peer = start_peer_on("::1")?;
    let (loss, rtt, counts) = tokio::task::spawn_blocking(move || {
        uclient_with(
            &["-u", USER, "-w", PASSWORD],
            udp,
            peer.1,
            "::1",
            "-x",
            &["-m", "10", "-n", "100", "-l", "170", "-z", "20"],
        )
    })
    .await??;
    eprintln!("ipv6: loss {loss}%, average RTT {rtt} ms, {counts}");
    assert_eq!(loss, 0.0);
    server.stop().await
}
