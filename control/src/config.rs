//! vchat's one configuration struct, and how it is loaded.
//!
//! Sources, each overriding the one before: built-in defaults, the TOML file given with
//! `--config`, `VCHAT_*` environment variables, then command-line flags. Every setting
//! has an environment name made of its path: `media.announce_ip` is
//! `VCHAT_MEDIA_ANNOUNCE_IP`. A value that does not fit fails start-up with the key and
//! where the value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// Call recordings: where the merged files are kept.
    pub recordings: RecordingsConfig,
    /// `VCHAT_*` variables that name no setting (typos, most likely), for a warning.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

/// The SFU's UDP media listeners.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address the media sockets bind to.
    pub bind_ip: IpAddr,
    /// First UDP port; worker `i` uses `port + i`. 0 lets the OS choose.
    pub port: u16,
    /// Address announced in ICE candidates, when browsers reach the server at another
    /// address than it binds (NAT, a public IP). Default: `bind_ip`.
    pub announce_ip: Option<IpAddr>,
    /// Media worker threads. 0 means one per core.
    pub workers: usize,
    /// Seconds a peer may take to connect before it is dropped.
    pub connect_timeout_secs: u64,
    /// Seconds a connected peer may be unreachable before it is dropped.
    pub disconnect_timeout_secs: u64,
}

/// Rooms and join tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomsConfig {
    /// Most participants in one room.
    pub max_participants: usize,
    /// Seconds a join token stays valid.
    pub token_ttl_secs: u64,
}

/// The signaling WebSocket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalingConfig {
    /// Largest message accepted; larger ones close the socket with 1009.
    pub max_message_bytes: usize,
    /// Seconds a new socket has to send `join`.
    pub join_timeout_secs: u64,
    /// Messages per second a session may send, sustained; bursts of twice that pass.
    pub max_messages_per_second: u32,
}

/// Stopping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct ShutdownConfig {
    /// On SIGTERM, seconds to let running calls finish before closing them. New joins
    /// are refused meanwhile. A second SIGTERM stops at once.
    pub drain_timeout_secs: u64,
}

/// The built-in STUN/TURN relay (RFC 8656). Browsers that cannot reach the media
/// ports directly (strict NATs, UDP-blocking firewalls) come through it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// Run the relay at all.
    pub enabled: bool,
    /// Address the UDP, TCP and TLS listeners bind to.
    pub listen_ip: IpAddr,
    /// UDP listener port (0: the OS picks); `udp = false` turns it off.
    pub udp_port: u16,
    /// Listen on UDP.
    pub udp: bool,
    /// TCP listener port (0: the OS picks).
    pub tcp_port: u16,
    /// Listen on TCP.
    pub tcp: bool,
    /// TLS ("TURNS") listener port (0: the OS picks).
    pub tls_port: u16,
    /// Listen on TLS, with the certificate of `[tls]`.
    pub tls: bool,
    /// Address relay sockets bind to (IPv4).
    pub relay_ip: IpAddr,
    /// Address relay sockets bind to for IPv6 allocations; none: IPv4 only.
    pub relay_ipv6: Option<IpAddr>,
    /// Address told to clients for relayed candidates and put into `turn:` URLs, when
    /// clients reach the server at another address than it binds (NAT, cloud).
    pub announce_ip: Option<IpAddr>,
    /// Host name put into `turns:` URLs (must match the certificate). Default: the
    /// host of `public_url`, else the announced address.
    pub host: Option<String>,
    /// First relay port.
    pub min_port: u16,
    /// Last relay port.
    pub max_port: u16,
    /// The REALM of long-term credentials.
    pub realm: String,
    /// Shared secret for time-limited credentials (TURN REST, as coturn's
    /// `static-auth-secret`). Default: generated once into `<data_dir>/turn-secret`.
    pub secret: Option<Secret>,
    /// Static users for operators, as `name:password`.
    pub users: Vec<Secret>,
    /// Seconds the credentials handed to a joining browser stay valid. Calls longer
    /// than this lose their relay at the next refresh.
    pub credential_ttl_secs: u64,
    /// Peer address blocks clients may reach although the defaults deny them
    /// (private networks of a deployment), e.g. `10.20.0.0/16`.
    pub allowed_peers: Vec<String>,
    /// More blocks to deny on top of the defaults.
    pub denied_peers: Vec<String>,
    /// Lets clients reach 127.0.0.0/8 and ::1 through the relay. For tests on one
    /// machine only: with it, anyone holding credentials talks to every local service.
    pub allow_loopback_peers_dangerously: bool,
    /// Allocations one user may hold at once.
    pub user_quota: usize,
    /// Allocations the relay holds at once.
    pub total_quota: usize,
    /// Per-allocation bandwidth cap in kbit/s (both directions); 0: none.
    pub max_kbps: u64,
    /// Client TCP and TLS connections held at once.
    pub max_connections: usize,
    /// 401/438 answers per second per source address (every one over UDP, where a
    /// spoofed source could aim them at someone else; failed credentials on TCP and
    /// TLS); twice this passes in a burst.
    pub challenges_per_second: u32,
}

/// The server certificate. Without one, a self-signed certificate for `localhost`
/// and the configured addresses is made once into `<data_dir>/tls/`. The files are
/// re-read when they change (checked every 10 s) and on SIGHUP, without a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

/// Which store engine keeps the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// SQLite in the data folder (one node).
    Embedded,
    /// MongoDB (several nodes share it; a replica set).
    Mongodb,
}

/// Where records are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` or `mongodb`.
    pub engine: StoreEngine,
    /// `mongodb://host1,host2/?replicaSet=rs0` (credentials may be in it).
    pub mongodb_uri: Option<Secret>,
    /// The database.
    pub mongodb_database: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            engine: StoreEngine::Embedded,
            mongodb_uri: None,
            mongodb_database: "vchat".into(),
        }
    }
}

/// Logins and sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Seconds a login session lasts.
    pub session_ttl_secs: u64,
    /// Login attempts per client address per minute; more get 429.
    pub login_attempts_per_minute: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl_secs: 12 * 3600,
            login_attempts_per_minute: 10,
        }
    }
}

/// Interactions and their client links.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InteractionsConfig {
    /// Seconds a client link opens after the interaction's time.
    pub link_ttl_secs: u64,
    /// Characters of a link code (at least 8).
    pub link_code_length: usize,
    /// Milliseconds the call store waits after a call ends before writing its CDR
    /// (the participants' leaves arrive meanwhile).
    pub cdr_grace_ms: u64,
    /// Seconds without RTP from a connected party before `media.inactive` is
    /// published (0: never).
    pub media_inactive_secs: u64,
}

impl Default for InteractionsConfig {
    fn default() -> Self {
        InteractionsConfig {
            link_ttl_secs: 24 * 3600,
            link_code_length: 10,
            cdr_grace_ms: 2000,
            media_inactive_secs: 10,
        }
    }
}

/// Chat files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Largest file accepted, in bytes; larger uploads get 413.
    pub max_bytes: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Where merged recordings are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingStore {
    /// `<data_dir>/recordings/files`.
    Local,
    /// An S3-compatible bucket (`recordings.s3_*`).
    S3,
}

/// Call recordings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingsConfig {
    /// `local` or `s3`.
    pub store: RecordingStore,
    /// S3 endpoint URL.
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: String,
    /// S3 bucket.
    pub s3_bucket: String,
    /// Path-style addressing (most S3-compatible servers need it).
    pub s3_path_style: bool,
    /// S3 access key id.
    pub s3_access_key: Option<String>,
    /// S3 secret key.
    pub s3_secret_key: Option<Secret>,
    /// Prefix of keys in the bucket.
    pub s3_prefix: String,
    /// Seconds a presigned download URL (S3) stays valid.
    pub presign_secs: u64,
    /// Milliseconds after a call ends before its merge starts (the last captured
    /// second reaches the disk meanwhile).
    pub merge_grace_ms: u64,
    /// Hours a call's capture files stay after its recording is ready (to merge again
    /// by hand); 0 deletes them as soon as the file is stored. Captures of failed
    /// recordings stay until someone looks.
    pub capture_retention_hours: u64,
}

impl Default for RecordingsConfig {
    fn default() -> Self {
        RecordingsConfig {
            store: RecordingStore::Local,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: "vchat-recordings".into(),
            s3_path_style: true,
            s3_access_key: None,
            s3_secret_key: None,
            s3_prefix: String::new(),
            presign_secs: 300,
            merge_grace_ms: 1500,
            capture_retention_hours: 24,
        }
    }
}

/// Reverse geocoding of shared positions through a Nominatim-compatible service.
/// The public instance allows one request per second per application and wants an
/// identifying User-Agent; production deployments should run their own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoConfig {
    /// Base URL of the service (its `/reverse` is called); none: no addresses.
    pub nominatim_url: Option<String>,
    /// User-Agent sent to it: name the deployment and a contact.
    pub user_agent: String,
    /// Least time between two requests, in ms, for the whole process.
    pub min_interval_ms: u64,
    /// `accept-language` of the addresses.
    pub language: String,
    /// Positions remembered (about 1 m apart count as one).
    pub cache_entries: usize,
}

impl Default for GeoConfig {
    fn default() -> Self {
        GeoConfig {
            nominatim_url: Some("https://nominatim.openstreetmap.org".into()),
            user_agent: concat!(
                "vchat/",
                env!("CARGO_PKG_VERSION"),
                " (self-hosted video assistance)"
            )
            .into(),
            min_interval_ms: 1000,
            language: "ru".into(),
            cache_entries: 10_000,
        }
    }
}

/// Sending client links. A tenant's `delivery_chain` (or `chain` here) lists the
/// channels to try in order: `sms`, `telegram`, `connector:<name>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Channels tried in order when the tenant names none.
    pub chain: Vec<String>,
    /// The message; `{company}` and `{link}` are filled in.
    pub message_template: String,
    /// Text of the Telegram join button.
    pub join_button_text: String,
    /// Attempts per channel before the next one is tried.
    pub max_attempts: u32,
    /// Wait before the first retry, in ms; doubled each time.
    pub backoff_ms: u64,
    /// Longest wait between attempts, in ms (also caps a provider's retry-after).
    pub max_backoff_ms: u64,
    /// SMSC's base URL.
    pub smsc_base_url: String,
    /// SMSC login.
    pub smsc_login: Option<String>,
    /// SMSC password.
    pub smsc_password: Option<Secret>,
    /// SMS sender name (registered with SMSC).
    pub smsc_sender: Option<String>,
    /// The Telegram Bot API's base URL.
    pub telegram_base_url: String,
    /// The bot's token.
    pub telegram_bot_token: Option<Secret>,
    /// Seconds a connector has to answer a task.
    pub connector_timeout_secs: u64,
    /// Seconds an outgoing HTTP request may take.
    pub http_timeout_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            chain: vec!["sms".into(), "telegram".into()],
            message_template: "{company}: your video call link {link}".into(),
            join_button_text: "Join the video call".into(),
            max_attempts: 3,
            backoff_ms: 2000,
            max_backoff_ms: 120_000,
            smsc_base_url: "https://smsc.ru".into(),
            smsc_login: None,
            smsc_password: None,
            smsc_sender: None,
            telegram_base_url: "https://api.telegram.org".into(),
            telegram_bot_token: None,
            connector_timeout_secs: 30,
            http_timeout_secs: 15,
        }
    }
}

/// The event bus. Events always go to the store's log and in-process subscribers;
/// with `mqtt_url`, also to the broker as `vchat/<tenant>/<kind>` at QoS 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// `mqtt://host:port` of the broker; none: no mirror.
    pub mqtt_url: Option<String>,
    /// The MQTT client id.
    pub mqtt_client_id: String,
    /// Broker user name.
    pub mqtt_username: Option<String>,
    /// Broker password.
    pub mqtt_password: Option<Secret>,
    /// Events held for the broker while it is away; past that they are dropped from
    /// the mirror (the store's log keeps them).
    pub mqtt_queue: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            mqtt_url: None,
            mqtt_client_id: "vchat".into(),
            mqtt_username: None,
            mqtt_password: None,
            mqtt_queue: 10_000,
        }
    }
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            enabled: true,
            listen_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp_port: 3478,
            udp: true,
            tcp_port: 3478,
            tcp: true,
            tls_port: 5349,
            tls: true,
            relay_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            relay_ipv6: None,
            announce_ip: None,
            host: None,
            min_port: 20000,
            max_port: 29999,
            realm: "vchat".into(),
            secret: None,
            users: Vec::new(),
            credential_ttl_secs: 24 * 3600,
            allowed_peers: Vec::new(),
            denied_peers: Vec::new(),
            allow_loopback_peers_dangerously: false,
            user_quota: 32,
            total_quota: 10_000,
            max_kbps: 20_000,
            max_connections: 10_000,
            challenges_per_second: 200,
        }
    }
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
            recordings: RecordingsConfig::default(),
            ignored_env: Vec::new(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        let sfu = vchat_sfu::SfuConfig::default();
        MediaConfig {
            bind_ip: sfu.bind_ip,
            port: sfu.port,
            announce_ip: None,
            workers: 0,
            connect_timeout_secs: sfu.connect_timeout.as_secs(),
            disconnect_timeout_secs: sfu.disconnect_timeout.as_secs(),
        }
    }
}

impl Default for RoomsConfig {
    fn default() -> Self {
        RoomsConfig {
            max_participants: 16,
            token_ttl_secs: 24 * 3600,
        }
    }
}

impl Default for SignalingConfig {
    fn default() -> Self {
        SignalingConfig {
            max_message_bytes: 64 * 1024,
            join_timeout_secs: 10,
            max_messages_per_second: 50,
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
            merge(
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
        apply_env(&mut tree, "", &env, &mut sources, &mut used);
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
            let source = source_of(&sources, &key);
            ConfigError::Value {
                key,
                origin: source,
                message: e.into_inner().to_string(),
            }
        })?;
        config.validate(&sources)?;
        config.ignored_env = ignored_env;
        Ok(config)
    }

    fn validate(&self, sources: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String| ConfigError::Value {
            key: key.into(),
            origin: source_of(sources, key),
            message,
        };
        for (i, c) in self.delivery.chain.iter().enumerate() {
            if !crate::delivery::is_channel(c) {
                return Err(fail(
                    &format!("delivery.chain[{i}]"),
                    format!("{c:?} is not sms, telegram or connector:<name>"),
                ));
            }
        }
        if self.interactions.link_code_length < 8 || self.interactions.link_code_length > 32 {
            return Err(fail(
                "interactions.link_code_length",
                "link codes are 8 to 32 characters".into(),
            ));
        }
        if let Some(url) = &self.public_url
            && (!(url.starts_with("http://") || url.starts_with("https://"))
                || url.contains(char::is_whitespace))
        {
            return Err(fail("public_url", format!("{url:?} is not an http(s) URL")));
        }
        if self.log.trim().is_empty() {
            return Err(fail("log", "empty log filter".into()));
        }
        if let Some(secret) = &self.secret
            && secret.expose().len() < 32
        {
            return Err(fail("secret", "must be at least 32 characters".into()));
        }
        if let Some(token) = &self.api_token
            && token.expose().len() < 16
        {
            return Err(fail("api_token", "must be at least 16 characters".into()));
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(fail(
                    "allowed_origins",
                    format!("{origin:?} is not an origin like https://example.com"),
                ));
            }
        }
        let media = &self.media;
        let announce = media.announce_ip.unwrap_or(media.bind_ip);
        if announce.is_unspecified() || announce.is_multicast() {
            let key = if media.announce_ip.is_some() {
                "media.announce_ip"
            } else {
                "media.bind_ip"
            };
            return Err(fail(
                key,
                format!(
                    "{announce} cannot go into ICE candidates; set media.announce_ip to the address browsers reach"
                ),
            ));
        }
        if media.workers > 1024 {
            return Err(fail("media.workers", "at most 1024".into()));
        }
        let workers = if media.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            media.workers
        };
        if media.port != 0 && usize::from(media.port) + workers > 65536 {
            return Err(fail(
                "media.port",
                format!(
                    "{} ports from {} do not fit below 65536",
                    workers, media.port
                ),
            ));
        }
        if let Err(e) = self.sfu_config().resolve() {
            return Err(fail("media", e.to_string()));
        }
        if !(2..=1000).contains(&self.rooms.max_participants) {
            return Err(fail(
                "rooms.max_participants",
                "must be between 2 and 1000".into(),
            ));
        }
        if !(60..=30 * 24 * 3600).contains(&self.rooms.token_ttl_secs) {
            return Err(fail(
                "rooms.token_ttl_secs",
                "must be between 60 and 2592000 (30 days)".into(),
            ));
        }
        if !(4096..=1 << 20).contains(&self.signaling.max_message_bytes) {
            return Err(fail(
                "signaling.max_message_bytes",
                "must be between 4096 and 1048576".into(),
            ));
        }
        if !(1..=300).contains(&self.signaling.join_timeout_secs) {
            return Err(fail(
                "signaling.join_timeout_secs",
                "must be between 1 and 300".into(),
            ));
        }
        self.validate_turn(&fail)?;
        if self.signaling.max_messages_per_second == 0 {
            return Err(fail(
                "signaling.max_messages_per_second",
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }

    fn validate_turn(&self, fail: &dyn Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
        let t = &self.turn;
        if !t.enabled {
            return Ok(());
        }
        if t.min_port == 0 || t.min_port > t.max_port {
            return Err(fail(
                "turn.min_port",
                format!("{}..{} is not a port range", t.min_port, t.max_port),
            ));
        }
        if t.relay_ip.is_unspecified() && t.announce_ip.is_none() {
            return Err(fail(
                "turn.announce_ip",
                "relay_ip is a wildcard; set announce_ip to the address clients reach".into(),
            ));
        }
        if t.realm.is_empty() || t.realm.len() > 127 {
            return Err(fail("turn.realm", "must be 1 to 127 characters".into()));
        }
        if let Some(secret) = &t.secret
            && secret.expose().len() < 16
        {
            return Err(fail("turn.secret", "must be at least 16 characters".into()));
        }
        for user in &t.users {
            match user.expose().split_once(':') {
                Some((name, pass))
                    if !name.is_empty() && !pass.is_empty() && !name.contains(':') => {}
                _ => return Err(fail("turn.users", "each user is `name:password`".into())),
            }
        }
        for (key, list) in [
            ("turn.allowed_peers", &t.allowed_peers),
            ("turn.denied_peers", &t.denied_peers),
        ] {
            for block in list {
                if let Err(e) = block.parse::<vchat_turn::policy::Cidr>() {
                    return Err(fail(key, e.to_string()));
                }
            }
        }
        if !(60..=7 * 24 * 3600).contains(&t.credential_ttl_secs) {
            return Err(fail(
                "turn.credential_ttl_secs",
                "must be between 60 and 604800 (7 days)".into(),
            ));
        }
        if t.challenges_per_second == 0 {
            return Err(fail(
                "turn.challenges_per_second",
                "must be at least 1".into(),
            ));
        }
        if t.user_quota == 0 || t.total_quota == 0 {
            return Err(fail("turn.user_quota", "quotas must be at least 1".into()));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(fail(
                "tls.cert",
                "give both tls.cert and tls.key, or neither".into(),
            ));
        }
        Ok(())
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
            None => format!("http://{bound}"),
        }
    }
}

/// The environment variable of a dotted key.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

fn source_of(sources: &BTreeMap<String, String>, key: &str) -> String {
    // serde_path_to_error names list items `key[0]`; their source is the list's.
    let base = key.split('[').next().unwrap_or(key);
    sources
        .get(base)
        .cloned()
        .unwrap_or_else(|| "the defaults".into())
}

fn merge(
    tree: &mut Value,
    from: Value,
    prefix: &str,
    sources: &mut BTreeMap<String, String>,
    source: &str,
) {
    match (tree, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match into.get_mut(&k) {
                    Some(slot @ Value::Object(_)) if v.is_object() => {
                        merge(slot, v, &key, sources, source)
                    }
                    _ => {
                        // Unknown keys stay in the tree: deserializing names them.
                        sources.insert(key, source.into());
                        into.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => {
            sources.insert(prefix.into(), source.into());
            *slot = v;
        }
    }
}

/// Sets each leaf of `tree` whose environment variable is present.
fn apply_env(
    tree: &mut Value,
    prefix: &str,
    env: &BTreeMap<String, String>,
    sources: &mut BTreeMap<String, String>,
    used: &mut Vec<String>,
) {
    let Value::Object(map) = tree else { return };
    for (k, slot) in map.iter_mut() {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if slot.is_object() {
            apply_env(slot, &key, env, sources, used);
            continue;
        }
        let name = env_name(&key);
        let Some(raw) = env.get(&name) else { continue };
        used.push(name.clone());
        sources.insert(key, format!("environment variable {name}"));
        *slot = match slot {
            // Text settings (and unset optional ones, which are all text) take the raw
            // value; numbers and booleans are parsed, so "abc" for a port fails loudly.
            Value::String(_) | Value::Null => Value::String(raw.clone()),
            Value::Array(_) => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.into()))
                    .collect(),
            ),
            Value::Bool(_) => match raw.as_str() {
                "true" | "1" | "yes" => Value::Bool(true),
                "false" | "0" | "no" => Value::Bool(false),
                _ => Value::String(raw.clone()),
            },
            Value::Number(_) => raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(raw.clone())),
            Value::Object(_) => continue,
        };
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
