//! The services outside: link delivery (SMSC, Telegram, connectors), reverse
//! geocoding (Nominatim), speech synthesis (Yandex SpeechKit), the MQTT broker.

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::{ConfigError, Secret};

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
    /// The map picture shown with a shared position: a URL template of a static-map
    /// service where `{lat}`, `{lon}`, `{lang}` and `{key}` are filled in (the Yandex
    /// Static API by default); none or empty: no picture.
    pub static_map_url: Option<String>,
    /// The static-map service's API key (`{key}`); when the template asks for one and
    /// none is set, no picture is fetched.
    pub static_map_key: Option<Secret>,
}

impl GeoConfig {
    /// The static-map URL for a position, when pictures are on.
    pub fn static_map(&self, lat: f64, lon: f64) -> Option<String> {
        let template = self.static_map_url.as_deref().filter(|t| !t.is_empty())?;
        let key = self
            .static_map_key
            .as_ref()
            .map(Secret::expose)
            .unwrap_or("");
        if template.contains("{key}") && key.is_empty() {
            return None;
        }
        let lang = if self.language == "en" {
            "en_US"
        } else {
            "ru_RU"
        };
        Some(
            template
                .replace("{lat}", &format!("{lat:.6}"))
                .replace("{lon}", &format!("{lon:.6}"))
                .replace("{lang}", lang)
                .replace("{key}", key),
        )
    }
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
            static_map_url: Some(
                "https://static-maps.yandex.ru/v1?ll={lon},{lat}&z=16&size=450,300\
                 &pt={lon},{lat},pm2rdm&lang={lang}&apikey={key}"
                    .into(),
            ),
            static_map_key: None,
        }
    }
}

/// Spoken prompts to intercoms ("the door is open", a custom text) through Yandex
/// SpeechKit's HTTP API (v1 `tts:synthesize`, raw PCM at the panel's own rate), cached
/// per text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechConfig {
    /// SpeechKit's base URL (its `/speech/v1/tts:synthesize` is called).
    pub yandex_url: String,
    /// A service account's API key (`Authorization: Api-Key …`); none: no spoken
    /// prompts.
    pub api_key: Option<Secret>,
    /// The cloud folder, for keys that need it.
    pub folder_id: Option<String>,
    /// The voice (`alena`, `filipp`, `jane`, …).
    pub voice: String,
    /// The language of the texts.
    pub language: String,
    /// Texts kept synthesized (per voice and rate).
    pub cache_entries: usize,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        SpeechConfig {
            yandex_url: "https://tts.api.cloud.yandex.net".into(),
            api_key: None,
            folder_id: None,
            voice: "alena".into(),
            language: "ru-RU".into(),
            cache_entries: 256,
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
    /// The message in every language, when set; `{company}` and `{link}` are filled
    /// in. Empty: the client's language's template below.
    pub message_template: String,
    /// The message to Russian-speaking clients.
    pub message_template_ru: String,
    /// The message to English-speaking clients.
    pub message_template_en: String,
    /// Text of the Telegram join button in every language, when set.
    pub join_button_text: String,
    /// The button for Russian-speaking clients.
    pub join_button_text_ru: String,
    /// The button for English-speaking clients.
    pub join_button_text_en: String,
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
            message_template: String::new(),
            message_template_ru: "{company}: ссылка на видеозвонок {link}".into(),
            message_template_en: "{company}: your video call link {link}".into(),
            join_button_text: String::new(),
            join_button_text_ru: "Подключиться к видеозвонку".into(),
            join_button_text_en: "Join the video call".into(),
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

impl DeliveryConfig {
    /// The message template for a client who reads `language`.
    pub fn template(&self, language: crate::model::tenant::Language) -> &str {
        use crate::model::tenant::Language;
        match (self.message_template.is_empty(), language) {
            (false, _) => &self.message_template,
            (true, Language::Ru) => &self.message_template_ru,
            (true, Language::En) => &self.message_template_en,
        }
    }

    /// The Telegram button's text for a client who reads `language`.
    pub fn button(&self, language: crate::model::tenant::Language) -> &str {
        use crate::model::tenant::Language;
        match (self.join_button_text.is_empty(), language) {
            (false, _) => &self.join_button_text,
            (true, Language::Ru) => &self.join_button_text_ru,
            (true, Language::En) => &self.join_button_text_en,
        }
    }

    pub(super) fn check(&self, c: &Check<'_>) -> Result<(), ConfigError> {
        for (i, channel) in self.chain.iter().enumerate() {
            if !crate::domain::delivery::is_channel(channel) {
                return Err(c.fail(
                    &format!("delivery.chain[{i}]"),
                    format!("{channel:?} is not sms, telegram or connector:<name>"),
                ));
            }
        }
        Ok(())
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
