//! The call store: folds each call's events into one CDR (the `cdr` collection).
//!
//! When an interaction reaches a final state, its CDR is written after a short grace
//! period (the leaves that follow an end arrive within it). A sweep at start-up and
//! every half minute writes the CDRs a crash or a lagging subscriber missed, so every
//! finished call gets exactly one: the CDR's id is the interaction's, and a late
//! re-fold replaces it rather than adding another.

pub mod fold;

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::domain::events::{EventKind, NewEvent};
use crate::domain::service;
use crate::model::{Cdr, Event, Interaction, State};
use crate::store::ids::now_ms;
use crate::store::{Filter, StoreError, StoreResult, Value};

service!(
    /// Folds finished calls' events into CDRs.
    CallStore
);
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How far back the sweep looks for finished calls without a CDR.
const SWEEP_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

impl CallStore {
    /// Starts the call store: live folding and the sweep.
    pub fn spawn(&self) {
        let grace = Duration::from_millis(self.0.config.interactions.cdr_grace_ms);
        let mut live = self.0.events.subscribe();
        {
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    match live.recv().await {
                        Ok(event) if event.known().is_some_and(EventKind::closes_a_call) => {
                            let Some(id) = event.interaction else {
                                continue;
                            };
                            let this = this.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(grace).await;
                                if let Err(e) = this.write(&id).await {
                                    tracing::error!(interaction = %id, "cannot write the CDR: {e}");
                                }
                            });
                        }
                        Ok(_) => {}
                        // Missed events: the sweep catches up.
                        Err(RecvError::Lagged(n)) => tracing::warn!("call store lagged {n} events"),
                        Err(RecvError::Closed) => break,
                    }
                }
            });
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = this.sweep(grace).await {
                    tracing::warn!("call store sweep: {e}");
                }
            }
        });
    }

    /// Writes CDRs of finished calls that have none (older than the grace period).
    pub async fn sweep(&self, grace: Duration) -> StoreResult<usize> {
        let now = now_ms();
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(0);
        let finished = self
            .0
            .store
            .find::<Interaction>(
                &Filter::all()
                    .one_of(
                        Interaction::STATE,
                        [
                            State::Ended,
                            State::Failed,
                            State::Cancelled,
                            State::Expired,
                        ]
                        .map(|s| Value::from(s.as_str())),
                    )
                    .at_least(Interaction::ENDED_AT, now - SWEEP_WINDOW_MS)
                    .below(Interaction::ENDED_AT, now - grace_ms)
                    .by(Interaction::ENDED_AT)
                    .page(0, 100_000),
            )
            .await?;
        let mut written = 0;
        for i in finished.iter().filter(|i| i.cdr_at.is_none()) {
            self.write(&i.id).await?;
            written += 1;
        }
        if written > 0 {
            tracing::info!("call store: wrote {written} missing CDRs");
        }
        Ok(written)
    }

    /// Folds the interaction's events into its CDR and stores it (replacing an older
    /// fold), then marks the interaction and, the first time, publishes `cdr.written`.
    pub async fn write(&self, id: &str) -> StoreResult<Option<Cdr>> {
        let store = &self.0.store;
        let Some(interaction) = store.get::<Interaction>(id).await? else {
            return Ok(None);
        };
        if !interaction.state.is_final() {
            return Ok(None);
        }
        let events = store
            .find::<Event>(
                &Filter::all()
                    .tenants(vec![interaction.tenant.clone()])
                    .eq(Event::INTERACTION, id)
                    .page(0, 1_000_000),
            )
            .await?;
        let now = now_ms();
        let cdr = fold::fold(&interaction, &events, now);
        let written = NewEvent::about(
            &cdr.tenant,
            id,
            "system",
            EventKind::CdrWritten {
                disposition: cdr.disposition,
                duration_secs: cdr.duration_secs,
                talk_secs: cdr.talk_secs,
            },
        );
        // The CDR first, then the mark: a crash in between leaves an unmarked call whose
        // CDR the sweep folds again and replaces — never a marked call without one.
        match store.insert(&cdr).await {
            Ok(()) => {}
            Err(StoreError::Duplicate { .. }) => {
                let again = cdr.clone();
                store
                    .update::<Cdr, _, (), _>(id, move |c| {
                        *c = again.clone();
                        Ok(())
                    })
                    .await?;
            }
            Err(e) => return Err(e),
        }
        // `cdr.written` once per call: a later fold (the recording became ready, the
        // client answered the survey) replaces the CDR without saying so again.
        self.0
            .events
            .update::<Interaction, _, (), _>(id, move |i| {
                let first = i.cdr_at.is_none();
                i.cdr_at = Some(now);
                Ok((
                    (),
                    if first {
                        vec![written.clone()]
                    } else {
                        Vec::new()
                    },
                ))
            })
            .await?;
        Ok(Some(cdr))
    }
}
