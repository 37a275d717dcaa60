//! Debian's `pebble`, the ACME test CA, with `pebble-challtestsrv` as its only DNS
//! server (every name resolves to 127.0.0.1 unless a test moves it): nothing leaves
//! this machine. Each instance has its own ports, certificates and a new root.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running pebble and its DNS.
pub struct Pebble {
    dir: tempfile::TempDir,
    children: Vec<Child>,
    /// The ACME directory URL.
    pub directory: String,
    /// The PEM that signs pebble's own API certificate (the ACME client trusts it).
    pub api_ca: PathBuf,
    management: SocketAddr,
    dns_management: SocketAddr,
}

/// A free TCP port on 127.0.0.1 (free when this returns; taken soon after by the caller).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("openssl (Debian package openssl) is needed")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A self-signed P-256 certificate for `name`, valid two days, into `cert` and `key`.
pub fn self_signed(name: &str, cert: &Path, key: &Path) -> anyhow::Result<()> {
    let dir = cert.parent().context("a folder")?;
    let (c, k) = (cert.to_string_lossy(), key.to_string_lossy());
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &k,
            "-out",
            &c,
        ],
    )
}

impl Pebble {
    /// Starts pebble, which validates HTTP-01 on 127.0.0.1:`http_port` and TLS-ALPN-01 on
    /// 127.0.0.1:`tls_port`, issuing certificates valid for `validity_secs`.
    pub fn start(http_port: u16, tls_port: u16, validity_secs: u64) -> anyhow::Result<Pebble> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        // pebble's API certificate, from a CA of our own (pebble ships none).
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "30",
                "-subj",
                "/CN=test api CA",
                "-keyout",
                "api-ca.key",
                "-out",
                "api-ca.pem",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "api-key.pem",
                "-out",
                "api.csr",
            ],
        )?;
        std::fs::write(
            d.join("api.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )?;
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "api.csr",
                "-CA",
                "api-ca.pem",
                "-CAkey",
                "api-ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-out",
                "api-cert.pem",
                "-extfile",
                "api.ext",
            ],
        )?;

        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let management: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let dns_management: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let dns = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
        let config = serde_json::json!({ "pebble": {
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": "api-cert.pem",
            "privateKey": "api-key.pem",
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity_secs,
        }});
        std::fs::write(d.join("pebble.json"), serde_json::to_vec(&config)?)?;

        let mut pebble = Pebble {
            directory: format!("https://{listen}/dir"),
            api_ca: d.join("api-ca.pem"),
            children: Vec::new(),
            management,
            dns_management,
            dir,
        };
        let log = |name: &str| -> anyhow::Result<Stdio> {
            Ok(std::fs::File::create(pebble.dir.path().join(name))?.into())
        };
        // DNS only: the other challenge servers off; no AAAA answers (pebble would dial
        // ::1 first, where the server under test does not listen).
        let dns_server = Command::new("pebble-challtestsrv")
            .current_dir(pebble.dir.path())
            .args([
                "-dns01",
                &dns.to_string(),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &dns_management.to_string(),
                "-defaultIPv6",
                "",
                "-defaultIPv4",
                "127.0.0.1",
            ])
            .stdout(log("challtestsrv.log")?)
            .stderr(log("challtestsrv.err")?)
            .spawn()
            .context("pebble-challtestsrv (Debian package pebble) is needed")?;
        pebble.children.push(dns_server);
        let ca = Command::new("pebble")
            .current_dir(pebble.dir.path())
            .args([
                "-config",
                "pebble.json",
                "-dnsserver",
                &dns.to_string(),
                "-strict=false",
            ])
            // No random waits before validations; no refused good nonces.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble.log")?)
            .stderr(log("pebble.err")?)
            .spawn()
            .context("pebble (Debian package pebble) is needed")?;
        pebble.children.push(ca);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(listen).is_err()
            || std::net::TcpStream::connect(management).is_err()
            || std::net::TcpStream::connect(dns_management).is_err()
        {
            if Instant::now() > deadline {
                bail!("pebble did not start: {}", pebble.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(pebble)
    }

    /// What pebble and its DNS wrote, for failure messages.
    pub fn logs(&self) -> String {
        [
            "pebble.log",
            "pebble.err",
            "challtestsrv.log",
            "challtestsrv.err",
        ]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
            format!(
                "--- {f}\n{}",
                text.lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
    }

    fn client(&self) -> anyhow::Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.api_ca)?)?;
        Ok(reqwest::Client::builder()
            .add_root_certificate(ca)
            .no_proxy()
            .build()?)
    }

    /// The root pebble issues under (new at every start), PEM.
    pub async fn root(&self) -> anyhow::Result<String> {
        let url = format!("https://{}/roots/0", self.management);
        Ok(self
            .client()?
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// Makes `host` resolve to `ip` for pebble (a name moved where nothing answers).
    pub async fn move_name(&self, host: &str, ip: &str) -> anyhow::Result<()> {
        reqwest::Client::builder()
            .no_proxy()
            .build()?
            .post(format!("http://{}/add-a", self.dns_management))
            .json(&serde_json::json!({ "host": host, "addresses": [ip] }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        // Only the processes this instance started, by their pid.
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
