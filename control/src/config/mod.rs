//! vchat's configuration: one typed struct, its sections (each with its defaults and
//! its checks beside it), and how it is loaded.
//!
//! Sources, each overriding the one before ([`layers`]): built-in defaults, the TOML
//! file given with `--config`, `VCHAT_*` environment variables, then command-line
//! flags. Every setting has an environment name made of its path: `media.announce_ip`
//! is `VCHAT_MEDIA_ANNOUNCE_IP`. A value that does not fit fails start-up with the key
//! and where the value came from ([`check`]). The SFU's and the relay's own rules are
//! theirs: their sections ask their crates.

mod calls;
pub mod check;
mod edge;
mod layers;
mod media;
mod outside;
mod store;
mod tls;
mod turn;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use calls::{FilesConfig, InteractionsConfig, RecordingStore, RecordingsConfig};
pub use check::Check;
pub use edge::AuthConfig;
pub use layers::env_name;
pub use media::{MediaConfig, RoomsConfig, ShutdownConfig, SignalingConfig};
pub use outside::{DeliveryConfig, EventsConfig, GeoConfig, SpeechConfig};
pub use store::{StoreConfig, StoreEngine};
pub use tls::{AcmeChallenge, AcmeConfig, TlsConfig, TlsMode};
pub use turn::TurnConfig;

/// Prefix of every environment variable vchat reads.
pub const ENV_PREFIX: &str = "VCHAT_";

/// Everything `vchat serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the HTTP server (pages, API, WebSocket) listens.
    pub http: SocketAddr,
    /// Folder for the server's state: secrets now, recordings and the store later.
    pub data_dir: PathBuf,
    /// The address people open, used in join links (`https://vchat.example.com`).
    /// Default: `http://<http>`.
    pub public_url: Option<String>,
    /// Log filter, as `RUST_LOG` (`info`, `vchat_sfu=debug,info`, ...).
    pub log: String,
    /// Signs join tokens; at least 32 characters. Default: generated once into
    /// `<data_dir>/secret`.
    pub secret: Option<Secret>,
    /// Bearer token for the REST API until users and roles exist. Default: generated
    /// once into `<data_dir>/api-token`.
    pub api_token: Option<Secret>,
    /// Origins (scheme://host[:port]) whose pages may open the signaling WebSocket,
    /// besides the server's own.
    pub allowed_origins: Vec<String>,
    /// The SFU's media sockets.
    pub media: MediaConfig,
    /// Rooms and join tokens.
    pub rooms: RoomsConfig,
    /// The signaling WebSocket.
    pub signaling: SignalingConfig,
    /// Stopping.
    pub shutdown: ShutdownConfig,
    /// The built-in STUN/TURN relay.
    pub turn: TurnConfig,
    /// The certificate of TURNS (and HTTPS).
    pub tls: TlsConfig,
    /// Where records are kept.
    pub store: StoreConfig,
    /// Logins, sessions and their limits.
    pub auth: AuthConfig,
    /// Interactions and their client links.
    pub interactions: InteractionsConfig,
    /// Chat files.
    pub files: FilesConfig,
    /// The event bus and its MQTT mirror.
    pub events: EventsConfig,
    /// Sending client links: SMS (SMSC), Telegram, custom connectors.
    pub delivery: DeliveryConfig,
    /// Geolocation and reverse geocoding.
    pub geo: GeoConfig,
    /// Spoken prompts to intercoms.
    pub speech: SpeechConfig,
    /// Call recordings: where the merged files are kept.
    pub recordings: RecordingsConfig,
    /// `VCHAT_*` variables that name no setting (typos, most likely), for a warning.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            data_dir: PathBuf::from("data"),
            public_url: None,
            log: "info".into(),
            secret: None,
            api_token: None,
            allowed_origins: Vec::new(),
            media: MediaConfig::default(),
            rooms: RoomsConfig::default(),
            signaling: SignalingConfig::default(),
            shutdown: ShutdownConfig::default(),
            turn: TurnConfig::default(),
            tls: TlsConfig::default(),
            store: StoreConfig::default(),
            auth: AuthConfig::default(),
            interactions: InteractionsConfig::default(),
            files: FilesConfig::default(),
            events: EventsConfig::default(),
            delivery: DeliveryConfig::default(),
            geo: GeoConfig::default(),
            speech: SpeechConfig::default(),
            recordings: RecordingsConfig::default(),
            ignored_env: Vec::new(),
        }
    }
}

/// A secret value: never printed, never logged.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself, for signing and comparing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value does not fit its key.
    #[error("config key `{key}` (from {origin}): {message}")]
    Value {
        /// Dotted path of the key.
        key: String,
        /// Where the value came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// Settings given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--http`.
    pub http: Option<SocketAddr>,
    /// `--data`.
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads defaults, then `file`, then the environment `env`, then `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut tree = serde_json::to_value(Config::default()).expect("defaults serialize");
        let mut sources: BTreeMap<String, String> = BTreeMap::new();

        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.into(),
                source,
            })?;
            let parsed: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Toml {
                path: path.into(),
                message: e.to_string(),
            })?;
            let parsed = serde_json::to_value(parsed).expect("TOML converts to JSON");
            layers::merge(
                &mut tree,
                parsed,
                "",
                &mut sources,
                &format!("config file {}", path.display()),
            );
        }

        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let mut used = Vec::new();
        layers::apply_env(&mut tree, "", &env, &mut sources, &mut used);
        let ignored_env = env
            .keys()
            .filter(|k| !used.contains(k) && !k.starts_with("VCHAT_TEST_"))
            .cloned()
            .collect();

        if let Some(http) = overrides.http {
            tree["http"] = Value::String(http.to_string());
            sources.insert("http".into(), "--http".into());
        }
        if let Some(dir) = &overrides.data_dir {
            tree["data_dir"] = Value::String(dir.display().to_string());
            sources.insert("data_dir".into(), "--data".into());
        }

        let mut config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let key = e.path().to_string();
            let source = layers::source_of(&sources, &key);
            ConfigError::Value {
                key,
                origin: source,
                message: e.into_inner().to_string(),
            }
        })?;
        config.check(&Check::new(&sources))?;
        config.ignored_env = ignored_env;
        Ok(config)
    }

    /// Checks every section, the first problem first.
    fn check(&self, c: &Check<'_>) -> Result<(), ConfigError> {
        self.delivery.check(c)?;
        self.interactions.check(c)?;
        if let Some(url) = &self.public_url
            && (!(url.starts_with("http://") || url.starts_with("https://"))
                || url.contains(char::is_whitespace))
        {
            return Err(c.fail("public_url", format!("{url:?} is not an http(s) URL")));
        }
        if self.log.trim().is_empty() {
            return Err(c.fail("log", "empty log filter"));
        }
        if let Some(secret) = &self.secret
            && secret.expose().len() < 32
        {
            return Err(c.fail("secret", "must be at least 32 characters"));
        }
        if let Some(token) = &self.api_token
            && token.expose().len() < 16
        {
            return Err(c.fail("api_token", "must be at least 16 characters"));
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(c.fail(
                    "allowed_origins",
                    format!("{origin:?} is not an origin like https://example.com"),
                ));
            }
        }
        self.media.check(c)?;
        // The SFU's own rules, on what this configuration gives it.
        if let Err(e) = self.sfu_config().resolve() {
            return Err(c.fail("media", e.to_string()));
        }
        self.rooms.check(c)?;
        self.signaling.check(c)?;
        self.turn.check(c)?;
        self.tls.check(c, self.http)?;
        self.signaling.check_rate(c)
    }

    /// The SFU's part of the configuration.
    pub fn sfu_config(&self) -> vchat_sfu::SfuConfig {
        vchat_sfu::SfuConfig {
            bind_ip: self.media.bind_ip,
            port: self.media.port,
            announce_ip: self.media.announce_ip,
            workers: self.media.workers,
            max_participants_per_room: self.rooms.max_participants,
            connect_timeout: Duration::from_secs(self.media.connect_timeout_secs),
            disconnect_timeout: Duration::from_secs(self.media.disconnect_timeout_secs),
            media_inactive_after: (self.interactions.media_inactive_secs > 0)
                .then(|| Duration::from_secs(self.interactions.media_inactive_secs)),
            ..vchat_sfu::SfuConfig::default()
        }
    }

    /// The base of links people open, for a server whose HTTP is bound at `bound`.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None if self.https() => match self.tls.acme.names.first() {
                Some(name) if bound.port() == 443 => format!("https://{name}"),
                Some(name) => format!("https://{name}:{}", bound.port()),
                None => format!("https://{bound}"),
            },
            None => format!("http://{bound}"),
        }
    }

    /// Whether pages are served over HTTPS (see [`TlsMode`]).
    pub fn https(&self) -> bool {
        self.tls.https(self.http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(config.http, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.public_base(config.http), "http://127.0.0.1:8080");
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vchat.toml");
        std::fs::write(
            &file,
            "http = \"127.0.0.1:1000\"\n[media]\nport = 5000\nworkers = 3\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[
                ("VCHAT_HTTP", "127.0.0.1:2000"),
                ("VCHAT_MEDIA_WORKERS", "2"),
                ("VCHAT_MEDIA_ANNOUNCE_IP", "192.0.2.1"),
            ]),
            &Overrides {
                http: Some("127.0.0.1:3000".parse().unwrap()),
                data_dir: None,
            },
        )
        .unwrap();
        assert_eq!(config.http.port(), 3000);
        assert_eq!(config.media.port, 5000);
        assert_eq!(config.media.workers, 2);
        assert_eq!(config.media.announce_ip, Some("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn bad_values_name_the_key_and_the_source() {
        let err = Config::load(
            None,
            env(&[("VCHAT_MEDIA_PORT", "seventy")]),
            &Overrides::default(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("media.port") && text.contains("VCHAT_MEDIA_PORT"),
            "{text}"
        );

        let err = Config::load(
            None,
            env(&[("VCHAT_MEDIA_PORT", "70000")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("media.port"), "{err}");

        let err = Config::load(
            None,
            env(&[("VCHAT_SECRET", "short")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`secret`"), "{err}");

        let err = Config::load(
            None,
            env(&[("VCHAT_MEDIA_BIND_IP", "0.0.0.0")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("announce"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vchat.toml");
        std::fs::write(&file, "[media]\nprot = 5000\n").unwrap();
        let err = Config::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("prot") && text.contains("vchat.toml"),
            "{text}"
        );
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::load(
            None,
            env(&[(
                "VCHAT_SECRET",
                "0123456789abcdef0123456789abcdef-very-secret",
            )]),
            &Overrides::default(),
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("very-secret"));
        assert!(
            !serde_json::to_string(&config)
                .unwrap()
                .contains("very-secret")
        );
    }
}
