//! Spoken prompts: text to 16-bit PCM at a panel's own rate through Yandex SpeechKit's
//! v1 HTTP API (`POST <base>/speech/v1/tts:synthesize`, a URL-encoded form of `text`,
//! `lang`, `voice`, `format=lpcm`, `sampleRateHertz`, `folderId`; the answer is the
//! raw little-endian samples, an error is JSON `error_code`/`error_message`). Cached
//! per voice, rate and text; 429, 503 and 504 are retried twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::SpeechConfig;
use crate::domain::cache::Bounded;

/// The longest text SpeechKit takes.
pub const MAX_TEXT_CHARS: usize = 5000;

/// Why no speech came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeechError {
    /// No API key is set.
    #[error("spoken prompts are off: set speech.api_key (a Yandex SpeechKit API key)")]
    Off,
    /// SpeechKit refused the request.
    #[error("speech synthesis refused the text (HTTP {status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// SpeechKit's `error_message`, or the body.
        message: String,
    },
    /// SpeechKit could not be reached, or stayed busy.
    #[error("speech synthesis is unavailable: {0}")]
    Unavailable(String),
}

/// Voice, rate, text.
type Key = (String, u32, String);

/// The synthesizer's cache (the HTTP client and settings are the caller's).
#[derive(Default)]
pub struct Speech {
    cache: Mutex<Bounded<Key, Arc<Vec<i16>>>>,
    /// Requests sent upstream.
    pub upstream_requests: std::sync::atomic::AtomicU64,
}

impl Speech {
    /// `text` spoken by `voice` (the configured one when `None`) as mono PCM at
    /// `rate` Hz (8,000 or 16,000).
    pub async fn synthesize(
        &self,
        http: &reqwest::Client,
        config: &SpeechConfig,
        text: &str,
        voice: Option<&str>,
        rate: u32,
    ) -> Result<Arc<Vec<i16>>, SpeechError> {
        let voice = voice.unwrap_or(&config.voice).to_owned();
        let key: Key = (voice.clone(), rate, text.to_owned());
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(hit.clone());
        }
        let Some(api_key) = &config.api_key else {
            return Err(SpeechError::Off);
        };
        let mut form = vec![
            ("text", text.to_owned()),
            ("lang", config.language.clone()),
            ("voice", voice),
            ("format", "lpcm".to_owned()),
            ("sampleRateHertz", rate.to_string()),
        ];
        if let Some(folder) = &config.folder_id {
            form.push(("folderId", folder.clone()));
        }
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| SpeechError::Unavailable(e.to_string()))?;
        let url = format!(
            "{}/speech/v1/tts:synthesize",
            config.yandex_url.trim_end_matches('/')
        );
        let mut wait = Duration::from_millis(300);
        let mut attempt = 0;
        let bytes = loop {
            attempt += 1;
            self.upstream_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let response = http
                .post(&url)
                .header(
                    reqwest::header::AUTHORIZATION,
                    format!("Api-Key {}", api_key.expose()),
                )
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body.clone())
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) if attempt < 3 => {
                    tracing::debug!("speech synthesis unreachable, retrying: {e}");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    continue;
                }
                Err(e) => return Err(SpeechError::Unavailable(e.to_string())),
            };
            let status = response.status().as_u16();
            if response.status().is_success() {
                break response
                    .bytes()
                    .await
                    .map_err(|e| SpeechError::Unavailable(e.to_string()))?;
            }
            if matches!(status, 429 | 503 | 504) && attempt < 3 {
                tokio::time::sleep(wait).await;
                wait *= 2;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error_message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(if matches!(status, 429 | 503 | 504) {
                SpeechError::Unavailable(format!("HTTP {status}: {message}"))
            } else {
                SpeechError::Refused { status, message }
            });
        };
        let pcm: Arc<Vec<i16>> = Arc::new(
            bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect(),
        );
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            key,
            pcm.clone(),
            config.cache_entries,
        );
        Ok(pcm)
    }
}
