//! The MQTT mirror of the event bus (rumqttc).
//!
//! Events go to one task through a bounded queue, in publish order, and from it to the
//! broker at QoS 1; rumqttc resends unacknowledged ones after a reconnect. When the
//! broker is away long enough for the queue to fill, further events are dropped from
//! the mirror (and counted) rather than slowing the API: the store's log keeps them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

use crate::config::EventsConfig;
use crate::model::Event;

/// Counters of the mirror.
#[derive(Debug, Default)]
pub struct MirrorStats {
    /// Events handed to the broker.
    pub published: AtomicU64,
    /// Events acknowledged by the broker (PUBACK).
    pub acked: AtomicU64,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Connection errors.
    pub errors: AtomicU64,
}

/// A running mirror.
pub struct Mirror {
    queue: mpsc::Sender<(String, Vec<u8>)>,
    /// Its counters.
    pub stats: Arc<MirrorStats>,
}

/// Why the mirror could not start.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// `events.mqtt_url` is not `mqtt://host[:port]`.
    #[error("events.mqtt_url must look like mqtt://host:1883, not {0:?}")]
    Url(String),
}

impl Mirror {
    /// Connects (in the background, retrying) to the broker of `config`.
    pub fn start(config: &EventsConfig, url: &str) -> Result<Mirror, MirrorError> {
        let rest = url
            .strip_prefix("mqtt://")
            .ok_or_else(|| MirrorError::Url(url.into()))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| MirrorError::Url(url.into()))?),
            None => (rest, 1883),
        };
        if host.is_empty() {
            return Err(MirrorError::Url(url.into()));
        }
        let mut options =
            MqttOptions::new(&config.mqtt_client_id, host.trim_matches(['[', ']']), port);
        options.set_keep_alive(Duration::from_secs(30));
        if let (Some(user), Some(password)) = (&config.mqtt_username, &config.mqtt_password) {
            options.set_credentials(user, password.expose());
        }
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let stats = Arc::new(MirrorStats::default());
        let (queue, mut rx) = mpsc::channel::<(String, Vec<u8>)>(config.mqtt_queue.max(1));
        {
            let stats = stats.clone();
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(MqttEvent::Incoming(Packet::PubAck(_))) => {
                            stats.acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!("MQTT: {e}; reconnecting in 1 s");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
        {
            let stats = stats.clone();
            tokio::spawn(async move {
                while let Some((topic, payload)) = rx.recv().await {
                    if client
                        .publish(topic, QoS::AtLeastOnce, false, payload)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    stats.published.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        Ok(Mirror { queue, stats })
    }

    /// Queues `event` for the broker.
    pub fn publish(&self, event: &Event) {
        let payload = serde_json::to_vec(event).expect("events serialize");
        if self.queue.try_send((topic(event), payload)).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `vchat/<tenant>/<kind>`. Tenant ids and kinds hold no `+`, `#` or `/`.
pub fn topic(event: &Event) -> String {
    format!("vchat/{}/{}", event.tenant, event.kind())
}
