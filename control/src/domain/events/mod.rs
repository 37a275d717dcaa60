//! The event bus: every lifecycle event is appended to the store's event log, then
//! handed to in-process subscribers and, when a broker is configured, mirrored to
//! MQTT as `vchat/<tenant>/<kind>` (QoS 1). The log comes first, so nothing is
//! published that is not also kept; subscribers that fall behind miss live events but
//! can read the log.
//!
//! Event ids are time-ordered, and subscribers (MQTT included) must see events in id
//! order. [`EventBus::commit`] is the one way to log events: it takes the bus's order
//! lock, makes the events' ids, commits them with the change they report in one batch,
//! and announces them — so, in this process, log order and publish order are one
//! order.

pub mod kind;
pub mod mqtt;

use std::sync::Arc;

use tokio::sync::broadcast;

pub use kind::EventKind;

use crate::model::Event;
use crate::store::ids::{new_id, now_ms};
use crate::store::{Batch, Store, StoreResult};

/// An event to log: who, about what, what happened.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Tenant.
    pub tenant: String,
    /// The interaction, if any.
    pub interaction: Option<String>,
    /// Who caused it: a user id, `client`, a participant id, `system`.
    pub actor: String,
    /// What happened.
    pub what: EventKind,
}

impl NewEvent {
    /// An event of `interaction` (of `tenant`) caused by `actor`.
    pub fn about(tenant: &str, interaction: &str, actor: &str, what: EventKind) -> NewEvent {
        NewEvent {
            tenant: tenant.to_string(),
            interaction: Some(interaction.to_string()),
            actor: actor.to_string(),
            what,
        }
    }

    fn stamped(self) -> Event {
        Event {
            id: new_id(),
            tenant: self.tenant,
            interaction: self.interaction,
            at: now_ms(),
            actor: self.actor,
            what: self.what.into(),
        }
    }
}

/// The bus; clones share it.
#[derive(Clone)]
pub struct EventBus(Arc<Inner>);

struct Inner {
    store: Store,
    live: broadcast::Sender<Event>,
    mqtt: Option<mqtt::Mirror>,
    order: tokio::sync::Mutex<()>,
}

impl EventBus {
    /// A bus over `store`, mirroring to `mqtt` when given.
    pub fn new(store: Store, mqtt: Option<mqtt::Mirror>) -> EventBus {
        let (live, _) = broadcast::channel(4096);
        EventBus(Arc::new(Inner {
            store,
            live,
            mqtt,
            order: tokio::sync::Mutex::new(()),
        }))
    }

    /// Logs `event` alone, then publishes it.
    pub async fn publish(&self, event: NewEvent) -> StoreResult<Event> {
        let mut events = self.commit(Batch::new(), vec![event]).await?;
        Ok(events.remove(0))
    }

    /// Commits `batch` with `events` (stamped now, ids in order) in one transaction,
    /// then publishes the events. Nothing is published if the commit fails.
    pub async fn commit(&self, mut batch: Batch, events: Vec<NewEvent>) -> StoreResult<Vec<Event>> {
        let _order = self.0.order.lock().await;
        let events: Vec<Event> = events.into_iter().map(NewEvent::stamped).collect();
        for e in &events {
            batch.insert(e);
        }
        self.0.store.commit(batch).await?;
        self.announce(&events);
        Ok(events)
    }

    /// Reads record `id`, lets `change` edit it and say which events the change makes,
    /// and writes the record and the events in one transaction, then publishes them.
    /// `change` returning `Err` leaves everything as it was. `Ok(None)`: no such record.
    pub async fn update<R, T, E, F>(
        &self,
        id: &str,
        mut change: F,
    ) -> StoreResult<Option<Result<(T, Vec<Event>), E>>>
    where
        R: crate::store::Record,
        T: Send + 'static,
        E: Send + 'static,
        F: FnMut(&mut R) -> Result<(T, Vec<NewEvent>), E> + Send + 'static,
    {
        let _order = self.0.order.lock().await;
        let changed = self
            .0
            .store
            .update_with::<R, _, E, _>(id, move |record, batch| {
                let (out, events) = change(record)?;
                let events: Vec<Event> = events.into_iter().map(NewEvent::stamped).collect();
                for e in &events {
                    batch.insert(e);
                }
                Ok((out, events))
            })
            .await?;
        if let Some(Ok((_, events))) = &changed {
            self.announce(events);
        }
        Ok(changed)
    }

    fn announce(&self, events: &[Event]) {
        for event in events {
            let _ = self.0.live.send(event.clone());
            if let Some(mqtt) = &self.0.mqtt {
                mqtt.publish(event);
            }
        }
    }

    /// Live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.live.subscribe()
    }

    /// The MQTT mirror's counters, if there is one.
    pub fn mqtt(&self) -> Option<&mqtt::Mirror> {
        self.0.mqtt.as_ref()
    }
}
