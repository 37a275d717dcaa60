//! The call store: folds each call's events into one CDR (the `cdr` collection).
//!
//! When an interaction reaches a final state, its CDR is written after a short grace
//! period (the leaves that follow an end arrive within it). A sweep at start-up and
//! every half minute writes the CDRs a crash or a lagging subscriber missed, so every
//! finished call gets exactly one: the CDR's id is the interaction's, and a late
//! re-fold replaces it rather than adding another.

pub mod fold;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;
use crate::events::{NewEvent, prepare};
use crate::model::{Cdr, Event, Interaction, State};
use crate::store::ids::now_ms;
use crate::store::{Cond, Filter, Order, StoreError, StoreResult, Value};

/// Events after which a call's CDR is (re)written: its end, and its recording's
/// outcome (which comes later, when the merge is done).
const FINAL_KINDS: [&str; 6] = [
    "interaction.ended",
    "interaction.failed",
    "interaction.cancelled",
    "interaction.expired",
    "recording.ready",
    "recording.failed",
];
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How far back the sweep looks for finished calls without a CDR.
const SWEEP_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// Starts the call store: live folding and the sweep.
pub fn spawn(app: Arc<App>) {
    let grace = Duration::from_millis(app.config.interactions.cdr_grace_ms);
    let mut live = app.events.subscribe();
    {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                match live.recv().await {
                    Ok(event) if FINAL_KINDS.contains(&event.kind.as_str()) => {
                        let Some(id) = event.interaction else {
                            continue;
                        };
                        let app = app.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(grace).await;
                            if let Err(e) = write(&app, &id).await {
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
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = sweep(&app, grace).await {
                tracing::warn!("call store sweep: {e}");
            }
        }
    });
}

/// Writes CDRs of finished calls that have none (older than the grace period).
pub async fn sweep(app: &App, grace: Duration) -> StoreResult<usize> {
    let now = now_ms();
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(0);
    let finished = app
        .store
        .find::<Interaction>(
            &Filter::all()
                .and(Cond::In(
                    "state",
                    [
                        State::Ended,
                        State::Failed,
                        State::Cancelled,
                        State::Expired,
                    ]
                    .iter()
                    .map(|s| Value::from(s.as_str()))
                    .collect(),
                ))
                .and(Cond::Gte("ended_at", Value::Int(now - SWEEP_WINDOW_MS)))
                .and(Cond::Lt("ended_at", Value::Int(now - grace_ms)))
                .order(Order::Asc("ended_at"))
                .page(0, 100_000),
        )
        .await?;
    let mut written = 0;
    for i in finished.iter().filter(|i| i.cdr_at.is_none()) {
        write(app, &i.id).await?;
        written += 1;
    }
    if written > 0 {
        tracing::info!("call store: wrote {written} missing CDRs");
    }
    Ok(written)
}

/// Folds the interaction's events into its CDR and stores it (replacing an older
/// fold), then marks the interaction and publishes `cdr.written`.
pub async fn write(app: &App, id: &str) -> StoreResult<Option<Cdr>> {
    let Some(interaction) = app.store.get::<Interaction>(id).await? else {
        return Ok(None);
    };
    if !interaction.state.is_final() {
        return Ok(None);
    }
    let events = app
        .store
        .find::<Event>(
            &Filter::all()
                .tenants(vec![interaction.tenant.clone()])
                .eq("interaction", id)
                .order(Order::Id)
                .page(0, 1_000_000),
        )
        .await?;
    let now = now_ms();
    let cdr = fold::fold(&interaction, &events, now);
    let _order = app.events.ordered().await;
    let event = prepare(NewEvent {
        tenant: &cdr.tenant,
        kind: "cdr.written",
        interaction: Some(id),
        actor: "system",
        data: json!({
            "disposition": cdr.disposition,
            "duration_secs": cdr.duration_secs,
            "talk_secs": cdr.talk_secs,
        }),
    });
    // The CDR first, then the mark: a crash in between leaves an unmarked call whose
    // CDR the sweep folds again and replaces — never a marked call without one.
    match app.store.insert(&cdr).await {
        Ok(()) => {}
        Err(StoreError::Duplicate { .. }) => {
            let again = cdr.clone();
            app.store
                .update::<Cdr, _, (), _>(id, move |c| {
                    *c = again.clone();
                    Ok(())
                })
                .await?;
        }
        Err(e) => return Err(e),
    }
    let marked = app
        .store
        .update_with::<Interaction, _, (), _>(id, move |i, batch| {
            i.cdr_at = Some(now);
            batch.insert(&event);
            Ok(event.clone())
        })
        .await?;
    if let Some(Ok(event)) = marked {
        app.events.announce(&event);
    }
    Ok(Some(cdr))
}
