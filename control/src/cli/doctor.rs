//! `vchat doctor`: checks a deployment from the machine it runs on and says what to
//! fix — the server answering on its public address, the certificate (trusted, for
//! the right name, not ending soon, its key matching), TURN answering STUN over UDP and
//! accepting TCP and TLS, the media ports held, the clock, disk space in the data
//! folder, the store, and the ffmpeg libraries recordings need. Every line is `ok`,
//! `warn` or `FAIL` with the fix; any `FAIL` makes the exit status 1.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::config::Config;
use crate::store::embedded::{FILE_NAME, SCHEMA_VERSION};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Report {
    lines: Vec<(Level, String)>,
}

impl Report {
    fn say(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        println!("  {tag}  {text}");
        self.lines.push((level, text));
    }

    fn count(&self, level: Level) -> usize {
        self.lines.iter().filter(|(l, _)| *l == level).count()
    }
}

/// Runs every check on `config`; fails when any check failed.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    println!(
        "vchat doctor: data {}, {} on {}",
        config.data_dir.display(),
        if config.https() {
            "HTTPS"
        } else {
            "plain HTTP"
        },
        config.http
    );
    let mut r = Report { lines: Vec::new() };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answering = runtime.block_on(web(config, &mut r));
    addresses(config, &mut r);
    turn(config, &mut r, answering);
    media(config, &mut r, answering);
    clock(&mut r);
    disk(config, &mut r);
    store(config, &mut r);
    for (what, there) in vchat_recorder::merge::mux::libraries() {
        if there {
            r.say(Level::Ok, format!("recordings: {what}"));
        } else {
            r.say(Level::Fail, format!("recordings: {what} is missing → install Debian's libavcodec59 and libavformat59 (ffmpeg 5.1) with libopus"));
        }
    }
    let (fail, warn) = (r.count(Level::Fail), r.count(Level::Warn));
    println!();
    if fail > 0 {
        bail!(
            "{fail} problem(s) and {warn} warning(s): fix the FAIL lines, then run vchat doctor again"
        );
    }
    println!("no problems, {warn} warning(s)");
    Ok(())
}

/// The host and port people open (from `public_url`, else the listen address).
fn public_host(config: &Config) -> (String, u16) {
    let base = config.public_base(config.http);
    let rest = base.split_once("://").map_or(base.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let default = if base.starts_with("https://") {
        443
    } else {
        80
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, port) = v6.split_once(']').unwrap_or((v6, ""));
        return (
            host.into(),
            port.trim_start_matches(':').parse().unwrap_or(default),
        );
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h.into(), p.parse().unwrap_or(default)),
        None => (authority.into(), default),
    }
}

/// Where to connect for `host:port`: the listen address itself when the server listens
/// on a wildcard or when the public host is the listen address.
fn target(config: &Config, host: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        let ip = if ip.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            ip
        };
        return Some(SocketAddr::new(ip, port));
    }
    (host, port).to_socket_addrs().ok()?.next().or_else(|| {
        let ip = config.http.ip();
        (!ip.is_unspecified()).then_some(config.http)
    })
}

/// The pages and the certificate; whether the server answered.
async fn web(config: &Config, r: &mut Report) -> bool {
    let (host, port) = public_host(config);
    let Some(addr) = target(config, &host, port) else {
        r.say(
            Level::Fail,
            format!("{host} does not resolve here → point its DNS at this machine"),
        );
        return false;
    };
    let scheme = if config.https() { "https" } else { "http" };
    let url = format!("{scheme}://{host}:{port}/healthz");
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .no_proxy()
        .resolve(&host, addr)
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build();
    let answered = match client {
        Ok(c) => c.get(&url).send().await,
        Err(e) => {
            r.say(Level::Fail, format!("cannot make an HTTP client: {e}"));
            return false;
        }
    };
    match answered {
        Ok(reply) if reply.status().is_success() => r.say(
            Level::Ok,
            format!(
                "{url} answers ({:?}, {} ms)",
                reply.version(),
                started.elapsed().as_millis()
            ),
        ),
        Ok(reply) => {
            r.say(
                Level::Fail,
                format!(
                    "{url} answers {} → the server is unwell: see its log",
                    reply.status()
                ),
            );
        }
        Err(e) => {
            let why = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
            r.say(Level::Fail, format!("nothing answers {url} ({why}) → is vchat running? (systemctl status vchat); is {addr} the address it listens on?"));
            if config.https() {
                files(config, r);
            }
            return false;
        }
    }
    if config.https() {
        certificate(config, r, addr, &host).await;
        files(config, r);
    } else if !config.http.ip().is_loopback() {
        r.say(Level::Warn, "plain HTTP on a non-loopback address: browsers give camera and microphone only to secure pages → tls.mode = auto (or a TLS proxy in front)");
    }
    true
}

/// What a TLS handshake showed: the chain, and what a browser's roots said of it.
#[derive(Default)]
struct Seen {
    chain: Vec<Vec<u8>>,
    verdict: Option<String>,
}

#[derive(Debug)]
struct Looking {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: Arc<Mutex<Seen>>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seen")
    }
}

impl rustls::client::danger::ServerCertVerifier for Looking {
    fn verify_server_cert(
        &self,
        end: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end, intermediates, name, ocsp, now)
            .err()
            .map(|e| e.to_string());
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.chain = std::iter::once(end)
            .chain(intermediates)
            .map(|c| c.to_vec())
            .collect();
        seen.verdict = verdict;
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The certificate the HTTPS port shows, as a browser would judge it.
async fn certificate(config: &Config, r: &mut Report, addr: SocketAddr, host: &str) {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // A test CA's root, when the operator said to trust it for ACME.
    if let Some(root) = &config.tls.acme.ca_root {
        let _ = std::fs::read(root).map(|pem| {
            use rustls::pki_types::pem::PemObject;
            for c in CertificateDer::pem_slice_iter(&pem).flatten() {
                let _ = roots.add(c);
            }
        });
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let inner = match rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => return r.say(Level::Fail, format!("cannot check certificates: {e}")),
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let Ok(builder) =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return;
    };
    let tls = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Looking {
            inner,
            seen: seen.clone(),
        }))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let name = ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("a name"));
    let shook = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        connector.connect(name, tcp).await
    };
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), shook)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    {
        return r.say(
            Level::Fail,
            format!(
                "TLS handshake with {addr} failed: {e} → see the server's log for its certificate"
            ),
        );
    }
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let Some(leaf) = seen.chain.first() else {
        return;
    };
    let leaf = CertificateDer::from(leaf.clone());
    let fingerprint = crate::tls::fingerprint(&leaf);
    let days = crate::tls::not_after(&leaf).map(|end| (end - now_secs()) / 86_400);
    match (&seen.verdict, days) {
        (None, Some(d)) if d < 14 => r.say(Level::Fail, format!("the certificate for {host} ends in {d} days → renewal is failing: see tls/acme/status.json in the data folder")),
        (None, Some(d)) if d < 30 => r.say(Level::Warn, format!("the certificate for {host} ends in {d} days; ACME renews 30 days ahead")),
        (None, d) => r.say(Level::Ok, format!("certificate for {host}: trusted, {} days left", d.unwrap_or(0))),
        (Some(why), _) if why.contains("UnknownIssuer") && config.tls.cert.is_none() && config.tls.acme.names.is_empty() => r.say(
            Level::Warn,
            format!("certificate: self-signed (SHA-256 {fingerprint}); browsers warn until it is trusted → trust it by hand (README) or set tls.acme.names for a public name"),
        ),
        (Some(why), _) => r.say(Level::Fail, format!("certificate for {host} is not one browsers accept: {why} → check tls.cert (or tls.acme) names {host}")),
    }
}

/// `tls.cert` and `tls.key`, when given: readable, matching, not ended.
fn files(config: &Config, r: &mut Report) {
    let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) else {
        return;
    };
    match (std::fs::read(cert), std::fs::read(key)) {
        (Ok(c), Ok(k)) => match crate::tls::files::certified_key(&c, &k) {
            Ok(pair) => {
                let days = pair
                    .end_entity_cert()
                    .ok()
                    .and_then(crate::tls::not_after)
                    .map(|end| (end - now_secs()) / 86_400);
                match days {
                    Some(d) if d < 0 => r.say(
                        Level::Fail,
                        format!(
                            "{} ended {} days ago → install a new certificate",
                            cert.display(),
                            -d
                        ),
                    ),
                    _ => r.say(
                        Level::Ok,
                        format!("{} and its key go together", cert.display()),
                    ),
                }
            }
            Err(e) => r.say(
                Level::Fail,
                format!(
                    "{} and {}: {e:#} → give the key the certificate was made for",
                    cert.display(),
                    key.display()
                ),
            ),
        },
        (Err(e), _) => r.say(Level::Fail, format!("cannot read {}: {e}", cert.display())),
        (_, Err(e)) => r.say(Level::Fail, format!("cannot read {}: {e}", key.display())),
    }
}

/// Addresses announced to browsers on other machines.
fn addresses(config: &Config, r: &mut Report) {
    let media = config.media.announce_ip.unwrap_or(config.media.bind_ip);
    if !config.http.ip().is_loopback() && media.is_loopback() {
        r.say(Level::Fail, format!("media is announced at {media}, which browsers on other machines cannot reach → set media.bind_ip (and media.announce_ip behind NAT)"));
    } else if media.is_unspecified() {
        r.say(Level::Fail, "media binds a wildcard with no announced address → set media.announce_ip to the address browsers reach");
    } else {
        r.say(Level::Ok, format!("media announced at {media}"));
    }
}

/// A STUN Binding request (RFC 8489) to the relay's UDP port, and TCP to its TCP and TLS ports.
fn turn(config: &Config, r: &mut Report, answering: bool) {
    let t = &config.turn;
    if !t.enabled {
        return r.say(
            Level::Warn,
            "TURN is off: browsers behind strict NATs or UDP-blocking firewalls cannot connect",
        );
    }
    let ip = t.announce_ip.unwrap_or(t.listen_ip);
    let ip = if ip.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        ip
    };
    if t.udp && t.udp_port != 0 {
        let at = SocketAddr::new(ip, t.udp_port);
        match stun(at) {
            Ok(ms) => r.say(Level::Ok, format!("TURN answers STUN over UDP at {at} ({ms} ms)")),
            Err(e) if answering => r.say(Level::Fail, format!("TURN does not answer STUN over UDP at {at} ({e}) → open udp {} in the firewall (deploy/firewall)", t.udp_port)),
            Err(_) => r.say(Level::Warn, format!("TURN does not answer at {at}: the server is not running")),
        }
    }
    for (on, port, what) in [(t.tcp, t.tcp_port, "TCP"), (t.tls, t.tls_port, "TLS")] {
        if !on || port == 0 {
            continue;
        }
        let at = SocketAddr::new(ip, port);
        match std::net::TcpStream::connect_timeout(&at, Duration::from_secs(2)) {
            Ok(_) => r.say(Level::Ok, format!("TURN accepts {what} at {at}")),
            Err(e) if answering => r.say(
                Level::Fail,
                format!("TURN refuses {what} at {at} ({e}) → open tcp {port}"),
            ),
            Err(_) => {}
        }
    }
}

fn stun(at: SocketAddr) -> anyhow::Result<u128> {
    let socket = UdpSocket::bind(if at.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = [0u8; 20];
    request[1] = 0x01; // Binding request
    request[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
    let mut id = [0u8; 12];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    request[8..20].copy_from_slice(&id);
    let started = Instant::now();
    socket.send_to(&request, at)?;
    let mut buf = [0u8; 512];
    let (n, _) = socket.recv_from(&mut buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            anyhow::anyhow!("no answer in 2 s")
        }
        _ => e.into(),
    })?;
    if n < 20 || buf[0..2] != [0x01, 0x01] || buf[8..20] != id {
        bail!("an answer that is not a STUN success");
    }
    Ok(started.elapsed().as_millis())
}

/// The media ports: held by the running server.
fn media(config: &Config, r: &mut Report, answering: bool) {
    let m = &config.media;
    if m.port == 0 || !answering {
        return;
    }
    let workers = if m.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        m.workers
    };
    let free: Vec<u16> = (0..workers as u16)
        .map(|i| m.port + i)
        .filter(|p| UdpSocket::bind(SocketAddr::new(m.bind_ip, *p)).is_ok())
        .collect();
    if free.is_empty() {
        r.say(Level::Ok, format!("media: udp {}-{} held by the server ({workers} workers); the firewall must let them in", m.port, m.port + workers as u16 - 1));
    } else {
        r.say(Level::Fail, format!("media: nothing holds udp {free:?} on {} → is this the config the server runs with?", m.bind_ip));
    }
}

/// Whether the clock is kept in step (certificates, tokens and CDR times depend on it).
fn clock(r: &mut Report) {
    let synced = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "yes");
    match synced {
        Some(true) => r.say(Level::Ok, "clock: synchronized (NTP)"),
        Some(false) => r.say(Level::Warn, "clock: not synchronized → enable NTP (timedatectl set-ntp true): certificates, sign-in tokens and call times need the right time"),
        None => r.say(Level::Warn, "clock: cannot tell whether it is synchronized (no timedatectl) → make sure NTP (chrony, systemd-timesyncd) runs"),
    }
}

/// Free space where the data folder is.
fn disk(config: &Config, r: &mut Report) {
    let out = std::process::Command::new("df")
        .args(["-Pk"])
        .arg(&config.data_dir)
        .output();
    let Some(line) = out.ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .map(str::to_string)
    }) else {
        return r.say(
            Level::Warn,
            format!(
                "disk: cannot tell the free space of {}",
                config.data_dir.display()
            ),
        );
    };
    let cols: Vec<&str> = line.split_whitespace().collect();
    let (total, free) = (
        cols.get(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
        cols.get(3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
    );
    let gib = free as f64 / (1024.0 * 1024.0);
    let share = if total > 0 {
        free as f64 / total as f64
    } else {
        0.0
    };
    let text = format!(
        "disk: {gib:.1} GiB free ({:.0}%) for {}",
        share * 100.0,
        config.data_dir.display()
    );
    if gib < 1.0 || share < 0.05 {
        r.say(
            Level::Fail,
            format!("{text} → free space: recordings lose media when it runs out"),
        );
    } else if gib < 10.0 || share < 0.10 {
        r.say(Level::Warn, format!("{text}; recordings need room"));
    } else {
        r.say(Level::Ok, text);
    }
}

/// The data folder is writable and its store is one this vchat can open.
fn store(config: &Config, r: &mut Report) {
    let probe = config.data_dir.join(".doctor-probe");
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            r.say(Level::Ok, format!("{} is writable", config.data_dir.display()));
        }
        Err(e) => r.say(Level::Fail, format!("cannot write {}: {e} → give the server's user the folder (StateDirectory in the systemd unit)", config.data_dir.display())),
    }
    let db = config.data_dir.join(FILE_NAME);
    if !db.exists() {
        return;
    }
    let version =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0)));
    match version {
        Ok(v) if v as usize > SCHEMA_VERSION => r.say(Level::Fail, format!("the store is at schema {v}, newer than this vchat ({SCHEMA_VERSION}) → run the newer vchat")),
        Ok(v) => r.say(Level::Ok, format!("store: schema {v} of {SCHEMA_VERSION}")),
        Err(e) => r.say(Level::Fail, format!("the store cannot be read: {e}")),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
