//! Checks of configuration values: a failure names the key and where its value came
//! from (`config key media.port (from environment variable VCHAT_MEDIA_PORT): …`).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::RangeInclusive;

use super::ConfigError;
use super::layers::source_of;

/// What checks need: where each value came from.
pub struct Check<'a> {
    sources: &'a BTreeMap<String, String>,
}

impl<'a> Check<'a> {
    /// Checks over values of these sources.
    pub fn new(sources: &'a BTreeMap<String, String>) -> Check<'a> {
        Check { sources }
    }

    /// The error for `key`.
    pub fn fail(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            key: key.into(),
            origin: source_of(self.sources, key),
            message: message.into(),
        }
    }

    /// `value` of `key` is within `range` (`note` follows the bounds: "(30 days)").
    pub fn range<T: PartialOrd + Display>(
        &self,
        key: &str,
        value: T,
        range: RangeInclusive<T>,
        note: &str,
    ) -> Result<(), ConfigError> {
        if range.contains(&value) {
            return Ok(());
        }
        let note = if note.is_empty() {
            String::new()
        } else {
            format!(" {note}")
        };
        Err(self.fail(
            key,
            format!(
                "must be between {} and {}{note}",
                range.start(),
                range.end()
            ),
        ))
    }

    /// `value` of `key` is at least 1.
    pub fn positive(&self, key: &str, value: u64) -> Result<(), ConfigError> {
        if value == 0 {
            return Err(self.fail(key, "must be at least 1"));
        }
        Ok(())
    }
}
