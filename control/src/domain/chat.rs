//! The chat of an interaction, kept in the store (history survives restarts): text
//! messages and shared positions. Staff who see the interaction and the call's client
//! (with its join token) read and write it.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::auth::token::unix_now;
use crate::domain::auth::{Caller, Credential};
use crate::domain::events::kind::{GeoAddress, GeoPosition};
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::fields::{Accuracy, Latitude, Longitude, MessageText, Millis};
use crate::domain::interactions::{CLIENT_PARTICIPANT, Interactions};
use crate::domain::{DomainError, DomainResult, service};
use crate::model::{ChatMessage, Interaction};
use crate::store::ids::{new_id, now_ms};
use crate::store::{Batch, Filter};

service!(
    /// The chat of interactions.
    Chat
);

/// Who writes in an interaction's chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// A user id, or `client`.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// Someone in a call: a member of staff who sees it, or its client.
#[derive(Debug, Clone)]
pub enum Participant {
    /// A staff member.
    Staff(Caller),
    /// The holder of a join token (claims checked, not yet matched to a call).
    Client {
        /// The room the token opens.
        room: String,
        /// The participant id it names.
        participant: String,
        /// The name it carries.
        name: String,
    },
}

/// `POST .../messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// Text.
    pub text: MessageText,
}

/// A position as a browser reports it.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Latitude, degrees.
    pub lat: Latitude,
    /// Longitude, degrees.
    pub lon: Longitude,
    /// Accuracy radius, metres.
    pub accuracy: Accuracy,
    /// When it was measured (Unix ms, within a day of now); default: when it arrived.
    #[serde(default)]
    pub at: Option<Millis>,
}

impl Chat {
    /// The participant `credential` is, when it is anyone: staff first; a bearer token
    /// that is no staff credential may be a client's join token.
    pub async fn participant(&self, credential: &Credential) -> DomainResult<Participant> {
        match self.0.auth.resolve(credential).await {
            Ok(caller) => Ok(Participant::Staff(caller)),
            Err(DomainError::Unauthorized) => {
                let Credential::Bearer(token) = credential else {
                    return Err(DomainError::Unauthorized);
                };
                let claims = self
                    .0
                    .signer
                    .verify(token.trim(), unix_now())
                    .map_err(|_| DomainError::Unauthorized)?;
                Ok(Participant::Client {
                    room: claims.room,
                    participant: claims.sub,
                    name: claims.name,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The interaction `id` and the participant as its chat author, if they are in it.
    pub async fn in_call(
        &self,
        who: &Participant,
        id: &str,
    ) -> DomainResult<(Interaction, Author)> {
        match who {
            Participant::Staff(caller) => {
                let i = Interactions::from(self.0.clone())
                    .visible(caller, id)
                    .await?;
                Ok((
                    i,
                    Author {
                        id: caller.user.clone(),
                        name: caller.name.clone(),
                    },
                ))
            }
            Participant::Client {
                room,
                participant,
                name,
            } => {
                let i = self
                    .0
                    .store
                    .get::<Interaction>(id)
                    .await?
                    .filter(|i| i.room == *room && participant == CLIENT_PARTICIPANT)
                    .ok_or_else(|| DomainError::not_found("interaction"))?;
                Ok((
                    i,
                    Author {
                        id: CLIENT_PARTICIPANT.into(),
                        name: name.clone(),
                    },
                ))
            }
        }
    }

    /// The chat so far, oldest first.
    pub async fn list(&self, who: &Participant, id: &str) -> DomainResult<Vec<ChatMessage>> {
        let (i, _) = self.in_call(who, id).await?;
        Ok(self
            .0
            .store
            .find::<ChatMessage>(
                &Filter::all()
                    .tenants(vec![i.tenant])
                    .eq(ChatMessage::INTERACTION, i.id.as_str())
                    .page(0, 10_000),
            )
            .await?)
    }

    /// Adds a text message.
    pub async fn send(
        &self,
        who: &Participant,
        id: &str,
        request: NewMessage,
    ) -> DomainResult<ChatMessage> {
        let (i, author) = self.in_call(who, id).await?;
        open(&i)?;
        self.post(
            &i,
            &author,
            request.text.into_string(),
            None,
            Batch::new(),
            Vec::new(),
        )
        .await
    }

    /// Stores a message — with `batch` and the events `before` (logged ahead of it) in
    /// the same transaction — and publishes them and `chat.message`.
    pub(crate) async fn post(
        &self,
        i: &Interaction,
        author: &Author,
        text: String,
        file: Option<String>,
        mut batch: Batch,
        mut before: Vec<NewEvent>,
    ) -> DomainResult<ChatMessage> {
        let message = ChatMessage {
            id: new_id(),
            tenant: i.tenant.clone(),
            interaction: i.id.clone(),
            at: now_ms(),
            from: author.id.clone(),
            name: author.name.clone(),
            text,
            file,
            geo: None,
        };
        before.push(NewEvent::about(
            &i.tenant,
            &i.id,
            &author.id,
            EventKind::ChatMessage {
                message: message.id.clone(),
                file: message.file.clone(),
                geo: None,
            },
        ));
        batch.insert(&message);
        self.0.events.commit(batch, before).await?;
        Ok(message)
    }

    /// Shares a position in the chat: a message and a `geo.position` event with a map
    /// link; the address follows as `geo.address` once the geocoder answers.
    pub async fn share_position(
        &self,
        who: &Participant,
        id: &str,
        position: Position,
    ) -> DomainResult<ChatMessage> {
        let (i, author) = self.in_call(who, id).await?;
        let now = now_ms();
        if position
            .at
            .is_some_and(|t| (t.0 - now).abs() > 24 * 3600 * 1000)
        {
            return Err(DomainError::invalid("at is Unix ms within a day of now"));
        }
        open(&i)?;
        let (lat, lon) = (position.lat.0, position.lon.0);
        let geo = GeoPosition {
            lat,
            lon,
            accuracy: position.accuracy.0,
            at: position.at.map_or(now, |t| t.0),
            map_url: crate::domain::geo::yandex_map_url(lat, lon),
        };
        let message = ChatMessage {
            id: new_id(),
            tenant: i.tenant.clone(),
            interaction: i.id.clone(),
            at: now,
            from: author.id.clone(),
            name: author.name.clone(),
            text: String::new(),
            file: None,
            geo: Some(serde_json::to_value(&geo).expect("positions serialize")),
        };
        let events = vec![
            NewEvent::about(
                &i.tenant,
                &i.id,
                &author.id,
                EventKind::ChatMessage {
                    message: message.id.clone(),
                    file: None,
                    geo: Some(true),
                },
            ),
            NewEvent::about(&i.tenant, &i.id, &author.id, EventKind::GeoPosition(geo)),
        ];
        let mut batch = Batch::new();
        batch.insert(&message);
        self.0.events.commit(batch, events).await?;
        let (deps, actor, message_id) = (self.0.clone(), author.id.clone(), message.id.clone());
        tokio::spawn(async move {
            let found = deps
                .geocoder
                .reverse(&deps.http, &deps.config.geo, lat, lon)
                .await;
            let preview = crate::domain::geo::preview::fetch(&deps, &i, &actor, lat, lon).await;
            let (display_name, address, licence, reason) = match found {
                Ok(Some(a)) => (Some(a.display_name), Some(a.address), Some(a.licence), None),
                Ok(None) => (None, None, None, Some("no address at this position".into())),
                Err(reason) => (None, None, None, Some(reason)),
            };
            let address = GeoAddress {
                lat,
                lon,
                display_name,
                address,
                licence,
                reason,
                message: Some(message_id.clone()),
                preview: preview.as_ref().map(|m| m.id.clone()),
            };
            // The stored message keeps what was found, so the chat's history shows it.
            let (name, picture) = (address.display_name.clone(), address.preview.clone());
            let _ = deps
                .store
                .update::<ChatMessage, (), DomainError, _>(&message_id, move |m| {
                    if let Some(g) = m.geo.as_mut() {
                        g["address"] = name.clone().into();
                        g["preview"] = picture.clone().into();
                    }
                    Ok(())
                })
                .await;
            let mut batch = Batch::new();
            if let Some(meta) = &preview {
                batch.insert(meta);
            }
            let event = NewEvent::about(&i.tenant, &i.id, &actor, EventKind::GeoAddress(address));
            let _ = deps.events.commit(batch, vec![event]).await;
        });
        Ok(message)
    }
}

/// `Conflict` once the interaction is over.
pub(crate) fn open(i: &Interaction) -> DomainResult<()> {
    if i.state.is_final() {
        return Err(DomainError::conflict(format!(
            "the interaction is {}",
            i.state.as_str()
        )));
    }
    Ok(())
}
