//! Intercoms: admins add them (the secret is shown once), list them with their online
//! state and last status, read their logs and send them commands. Connected devices
//! speak the protocol of `ws::intercom` (docs/intercom.md).

pub mod live;
pub mod upload;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vchat_intercom::frame::Codec;
use vchat_intercom::message::{Hello, ServerMessage, Status};

use crate::domain::auth::Caller;
use crate::domain::fields::{DeviceId, MessageText, Printable};
use crate::domain::paging::{Page, Paging};
use crate::domain::{DomainError, DomainResult, service};
use crate::model::{Device, Role};
use crate::store::Filter;
use crate::store::ids::{digest, new_id, now_ms, random_token};
pub use live::{Answer, Live, LogLine, NoReply, Reply, ToDevice};

/// How long a command waits for the device's answer.
pub const COMMAND_WAIT: Duration = Duration::from_secs(10);

service!(
    /// Intercoms and their sessions.
    Devices
);

/// `POST /api/devices`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// The id the device will say in `hello` (unique across tenants).
    pub device: DeviceId,
    /// What people call it ("Lenina 5, entrance 2"); the id when empty.
    #[serde(default)]
    pub name: Printable<120>,
    /// Tenant (default: the caller's).
    pub tenant: Option<String>,
}

/// An added device, with its secret (shown once).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceCreated {
    /// Record id.
    pub id: String,
    /// The device's id.
    pub device: String,
    /// Its name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// The secret it says in `hello`.
    pub secret: String,
}

/// A device as listed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Device)]
pub struct DeviceView {
    /// Record id.
    pub id: String,
    /// The device's id.
    pub device: String,
    /// Its name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// Whether it is connected now.
    pub online: bool,
    /// Since when, Unix ms.
    pub online_since: Option<i64>,
    /// When it was last connected or reported, Unix ms.
    pub last_seen_at: Option<i64>,
    /// Firmware, from its last `hello`.
    pub firmware: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Codecs it takes, preferred first.
    pub codecs: Vec<String>,
    /// Its last status, key by key.
    #[schema(value_type = Object)]
    pub status: BTreeMap<String, serde_json::Value>,
    /// Sessions it opened.
    pub connections: u64,
    /// Sessions after the first (reconnects).
    pub reconnects: u64,
    /// Unix ms.
    pub created_at: i64,
}

/// A command for a device (`POST /api/devices/{id}/commands`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Open a door relay; the answer says the relay's position.
    OpenDoor {
        /// The relay (default 1).
        #[serde(
            default = "first_relay",
            deserialize_with = "crate::domain::fields::whole_u8"
        )]
        #[schema(minimum = 0, maximum = 255)]
        relay: u8,
    },
    /// Reboot.
    Reboot,
    /// Push settings.
    Config {
        /// The settings, as the device's firmware names them.
        #[schema(value_type = Object)]
        values: serde_json::Map<String, serde_json::Value>,
    },
    /// Play a prompt the device has (by name).
    Play {
        /// The prompt's name.
        prompt: DeviceId,
        /// The call it plays into (default: none, the panel's speaker).
        #[serde(default, deserialize_with = "crate::domain::fields::whole_u32_opt")]
        call: Option<u32>,
    },
    /// Speak a text: vchat synthesizes it and streams it to the device as audio.
    Say {
        /// The text (1 to 4,000 characters).
        text: MessageText,
        /// The voice (the configured one by default).
        voice: Option<DeviceId>,
        /// The call it plays into (default: none, the panel's speaker).
        #[serde(default, deserialize_with = "crate::domain::fields::whole_u32_opt")]
        call: Option<u32>,
    },
}

fn first_relay() -> u8 {
    1
}

/// `GET /api/devices/{id}/logs` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Only lines containing this (any case).
    pub q: Option<String>,
}

impl Devices {
    /// Adds a device (admins).
    pub async fn create(&self, caller: &Caller, request: NewDevice) -> DomainResult<DeviceCreated> {
        let tenant = request.tenant.unwrap_or_else(|| caller.tenant.clone());
        if !caller.sees(&tenant) {
            return Err(DomainError::not_found("tenant"));
        }
        caller.require(Role::Admin)?;
        let device_id = request.device.into_string();
        if self
            .0
            .store
            .get_unique::<Device>(&device_id)
            .await?
            .is_some()
        {
            return Err(DomainError::conflict("a device with this id exists"));
        }
        let name = match request.name.as_str().trim() {
            "" => device_id.clone(),
            name => name.to_owned(),
        };
        let secret = random_token(24);
        let device = Device {
            id: new_id(),
            tenant: tenant.clone(),
            device: device_id,
            name,
            secret_digest: digest(&secret),
            created_at: now_ms(),
            firmware: None,
            model: None,
            codecs: Vec::new(),
            last_seen_at: None,
            status: BTreeMap::new(),
            connections: 0,
        };
        self.0.store.insert(&device).await?;
        Ok(DeviceCreated {
            id: device.id,
            device: device.device,
            name: device.name,
            tenant,
            secret,
        })
    }

    /// The devices of the caller's scope (supervisors and admins).
    pub async fn list(&self, caller: &Caller) -> DomainResult<Vec<DeviceView>> {
        caller.require(Role::Supervisor)?;
        let items = self
            .0
            .store
            .find::<Device>(
                &Filter::all()
                    .tenants(caller.scope.clone())
                    .by(Device::NAME)
                    .page(0, 100_000),
            )
            .await?;
        Ok(items.into_iter().map(|d| self.view(d)).collect())
    }

    /// One device.
    pub async fn get(&self, caller: &Caller, id: &str) -> DomainResult<DeviceView> {
        caller.require(Role::Supervisor)?;
        Ok(self.view(self.find(caller, id).await?))
    }

    /// Removes a device (admins); a connected one is closed.
    pub async fn delete(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let device = self.find(caller, id).await?;
        caller.require(Role::Admin)?;
        self.0.store.delete::<Device>(&device.id).await?;
        self.0.devices.remove(&device.device);
        Ok(())
    }

    /// Sends a command and waits for the device's answer: agents may open doors and
    /// speak to the panel; the rest is for admins.
    pub async fn command(
        &self,
        caller: &Caller,
        id: &str,
        command: Command,
    ) -> DomainResult<Reply> {
        let device = self.find(caller, id).await?;
        match command {
            Command::OpenDoor { .. } | Command::Play { .. } | Command::Say { .. } => {
                caller.require(Role::Agent)?
            }
            _ => caller.require(Role::Admin)?,
        }
        let live = &self.0.devices;
        let (message, audio): (
            Box<dyn FnOnce(String) -> ServerMessage + Send>,
            Option<ToDevice>,
        ) = match command {
            Command::OpenDoor { relay } => (
                Box::new(move |id| ServerMessage::OpenDoor {
                    id,
                    relay: relay.into(),
                }),
                None,
            ),
            Command::Reboot => (Box::new(|id| ServerMessage::Reboot { id }), None),
            Command::Config { values } => (
                Box::new(move |id| ServerMessage::Config { id, values }),
                None,
            ),
            Command::Play { prompt, call } => {
                let prompt = Some(prompt.into_string());
                (
                    Box::new(move |id| ServerMessage::Play {
                        id,
                        call,
                        text: None,
                        prompt,
                        voice: None,
                    }),
                    None,
                )
            }
            Command::Say { text, voice, call } => {
                let (text, voice) = (text.into_string(), voice.map(DeviceId::into_string));
                let codec = live
                    .codec(&device.device)
                    .ok_or_else(|| DomainError::conflict("the device is offline"))?;
                let rate = match codec {
                    Codec::Pcmu | Codec::Pcma => 8_000,
                    Codec::L16 => 16_000,
                    // Opus frames run on a 48 kHz clock; SpeechKit synthesizes at 48 kHz.
                    Codec::Opus => 48_000,
                };
                let pcm = self
                    .0
                    .speech
                    .synthesize(
                        &self.0.http,
                        &self.0.config.speech,
                        &text,
                        voice.as_deref(),
                        rate,
                    )
                    .await
                    .map_err(|e| DomainError::conflict(e.to_string()))?;
                let audio = Some(ToDevice::Speak {
                    call: call.unwrap_or(0),
                    pcm,
                });
                (
                    Box::new(move |id| ServerMessage::Play {
                        id,
                        call,
                        text: Some(text),
                        prompt: None,
                        voice,
                    }),
                    audio,
                )
            }
        };
        match live
            .command(&device.device, COMMAND_WAIT, message, audio)
            .await
        {
            Ok(reply) => Ok(reply),
            Err(NoReply::Offline) => Err(DomainError::conflict("the device is offline")),
            Err(NoReply::Timeout) => Err(DomainError::conflict(format!(
                "the device did not answer within {} s",
                COMMAND_WAIT.as_secs()
            ))),
        }
    }

    /// A device's recent log lines, newest first, a page of them.
    pub async fn logs(
        &self,
        caller: &Caller,
        id: &str,
        query: LogQuery,
        paging: Paging,
    ) -> DomainResult<Page<LogLine>> {
        caller.require(Role::Supervisor)?;
        let device = self.find(caller, id).await?;
        let (total, items) = self.0.devices.logs(
            &device.device,
            query.q.as_deref(),
            paging.offset as usize,
            paging.limit as usize,
        );
        Ok(Page {
            items,
            total: total as u64,
            offset: paging.offset,
            limit: paging.limit,
        })
    }

    /// The device a `hello` names, if its secret is right — or its token is an
    /// intercom token of an admin of the device's tenant or one above it — and its
    /// tenant is the one the hello names, when it names one.
    pub async fn authenticate(&self, hello: &Hello) -> DomainResult<Option<Device>> {
        let Some(device) = self.0.store.get_unique::<Device>(&hello.device).await? else {
            return Ok(None);
        };
        if hello.tenant.as_ref().is_some_and(|t| *t != device.tenant) {
            return Ok(None);
        }
        let proven = match (hello.secret.as_deref(), hello.token.as_deref()) {
            (Some(secret), _) => aws_lc_rs::constant_time::verify_slices_are_equal(
                device.secret_digest.as_bytes(),
                digest(secret).as_bytes(),
            )
            .is_ok(),
            (None, Some(token)) => self
                .0
                .auth
                .intercom_scope(token)
                .await?
                .is_some_and(|tenants| tenants.contains(&device.tenant)),
            (None, None) => false,
        };
        Ok(proven.then_some(device))
    }

    /// A device opened a session: keeps what its `hello` said. Returns how many
    /// sessions it had opened before.
    pub async fn connected(&self, id: &str, hello: &Hello) -> DomainResult<u64> {
        let _turn = self.0.devices.store_turn().await;
        let (firmware, model, codecs) = (
            hello.firmware.clone(),
            hello.model.clone(),
            hello.codecs.clone(),
        );
        let before = self
            .0
            .store
            .update::<Device, u64, DomainError, _>(id, move |d| {
                d.firmware = Some(firmware.clone());
                d.model = Some(model.clone());
                d.codecs = codecs.clone();
                d.last_seen_at = Some(now_ms());
                d.connections += 1;
                Ok(d.connections - 1)
            })
            .await?;
        before.unwrap_or(Ok(0))
    }

    /// A device reported its status: merged into its last one.
    pub async fn reported(&self, id: &str, status: Status) -> DomainResult<()> {
        let _turn = self.0.devices.store_turn().await;
        self.0
            .store
            .update::<Device, (), DomainError, _>(id, move |d| {
                for (key, value) in &status.values {
                    d.status
                        .insert(key.clone(), serde_json::to_value(value).unwrap_or_default());
                }
                d.last_seen_at = Some(now_ms());
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// A device's session ended.
    pub async fn gone(&self, id: &str) -> DomainResult<()> {
        let _turn = self.0.devices.store_turn().await;
        self.0
            .store
            .update::<Device, (), DomainError, _>(id, |d| {
                d.last_seen_at = Some(now_ms());
                d.status.insert("online".into(), false.into());
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn find(&self, caller: &Caller, id: &str) -> DomainResult<Device> {
        self.0
            .store
            .get::<Device>(id)
            .await?
            .filter(|d| caller.sees(&d.tenant))
            .ok_or_else(|| DomainError::not_found("device"))
    }

    fn view(&self, d: Device) -> DeviceView {
        let online_since = self.0.devices.online_since(&d.device);
        DeviceView {
            online: online_since.is_some(),
            online_since,
            reconnects: d.connections.saturating_sub(1),
            id: d.id,
            device: d.device,
            name: d.name,
            tenant: d.tenant,
            last_seen_at: d.last_seen_at,
            firmware: d.firmware,
            model: d.model,
            codecs: d.codecs,
            status: d.status,
            connections: d.connections,
            created_at: d.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_take_integers_as_json_schema_counts_them() {
        for body in [
            r#"{"call": null, "text": "0", "type": "say", "voice": null}"#,
            r#"{"type": "say", "text": "hi", "call": 5.0}"#,
            r#"{"type": "open_door", "relay": 137.0}"#,
            r#"{"type": "play", "prompt": "x"}"#,
        ] {
            let c: Result<Command, _> = serde_json::from_str(body);
            assert!(c.is_ok(), "{body}: {c:?}");
        }
        assert!(serde_json::from_str::<Command>(r#"{"type": "open_door", "relay": 1.5}"#).is_err());
    }
}
