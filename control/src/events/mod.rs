//! The event bus: every lifecycle event is appended to the store's event log, then
//! handed to in-process subscribers and, when a broker is configured, mirrored to
//! MQTT as `vchat/<tenant>/<kind>` (QoS 1). The log comes first, so nothing is
//! published that is not also kept; subscribers that fall behind miss live events but
//! can read the log.

pub mod mqtt;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::model::Event;
use crate::store::ids::{new_id, now_ms};
use crate::store::{Store, StoreResult};

/// What an event is about, as its publisher fills it in.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// `<subject>.<verb>`.
    pub kind: &'a str,
    /// The interaction, if any.
    pub interaction: Option<&'a str>,
    /// Who caused it.
    pub actor: &'a str,
    /// Details.
    pub data: Value,
}

/// The event record for `new`, stamped now, for writing in a batch and
/// [`EventBus::announce`] after the commit.
pub fn prepare(new: NewEvent<'_>) -> Event {
    Event {
        id: new_id(),
        tenant: new.tenant.to_string(),
        kind: new.kind.to_string(),
        interaction: new.interaction.map(str::to_string),
        at: now_ms(),
        actor: new.actor.to_string(),
        data: new.data,
    }
}

/// The bus.
///
/// Event ids are time-ordered and subscribers (MQTT included) must see events in id
/// order. So every write that logs events holds [`EventBus::ordered`] from making the
/// ids until the events are announced: in this process, log order and publish order
/// are one order.
pub struct EventBus {
    store: Store,
    live: broadcast::Sender<Event>,
    mqtt: Option<mqtt::Mirror>,
    order: tokio::sync::Mutex<()>,
}

impl EventBus {
    /// A bus over `store`, mirroring to `mqtt` when given.
    pub fn new(store: Store, mqtt: Option<mqtt::Mirror>) -> EventBus {
        let (live, _) = broadcast::channel(4096);
        EventBus {
            store,
            live,
            mqtt,
            order: tokio::sync::Mutex::new(()),
        }
    }

    /// Appends the event to the log, then publishes it.
    pub async fn publish(&self, new: NewEvent<'_>) -> StoreResult<Event> {
        let _order = self.ordered().await;
        let event = prepare(new);
        self.store.insert(&event).await?;
        self.announce(&event);
        Ok(event)
    }

    /// Held from [`prepare`] to [`EventBus::announce`] by writers that log events in
    /// a batch of their own; not while calling [`EventBus::publish`] (which takes it).
    pub async fn ordered(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.order.lock().await
    }

    /// Publishes an event the caller has written to the log itself (in one batch with
    /// the change it reports), while holding [`EventBus::ordered`].
    pub fn announce(&self, event: &Event) {
        let _ = self.live.send(event.clone());
        if let Some(mqtt) = &self.mqtt {
            mqtt.publish(event);
        }
    }

    /// Live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// The MQTT mirror's counters, if there is one.
    pub fn mqtt(&self) -> Option<&mqtt::Mirror> {
        self.mqtt.as_ref()
    }
}
