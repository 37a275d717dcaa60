//! What one delivery attempt came to, whatever the channel.

use std::time::Duration;

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted by the provider (its message id, if it gave one).
    Sent {
        /// Provider's id.
        id: Option<String>,
    },
    /// The provider confirmed delivery (connectors may know).
    Delivered {
        /// Provider's id.
        id: Option<String>,
    },
    /// Try again later (rate limit, outage); `after` if the provider said when.
    Retry {
        /// Why.
        reason: String,
        /// The provider's requested wait.
        after: Option<Duration>,
    },
    /// This channel cannot deliver this message (bad number, blocked bot, no money...).
    Failed {
        /// Why.
        reason: String,
    },
}

/// A provider error code with its documented meaning.
pub fn describe(code: i64, known: &[(i64, &str)]) -> String {
    known.iter().find(|(c, _)| *c == code).map_or_else(
        || format!("error {code}"),
        |(c, d)| format!("error {c}: {d}"),
    )
}
