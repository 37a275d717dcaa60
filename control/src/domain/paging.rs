//! Pages of list results: `?offset=&limit=` in, `{items, total, offset, limit}` out.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{DomainError, DomainResult};

/// A page of results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The records.
    pub items: Vec<T>,
    /// How many match in all.
    pub total: u64,
    /// The offset asked for.
    pub offset: u64,
    /// The limit asked for.
    pub limit: u64,
}

/// Paging of list endpoints: records to skip, records to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Records to skip (at most 1000000).
    pub offset: u64,
    /// Records to return (1 to 200).
    pub limit: u64,
}

impl Paging {
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: u64 = 50;
    /// The largest page.
    pub const MAX_LIMIT: u64 = 200;
    /// The farthest offset.
    pub const MAX_OFFSET: u64 = 1_000_000;

    /// Checks the limits.
    pub fn new(offset: Option<u64>, limit: Option<u64>) -> DomainResult<Paging> {
        let p = Paging {
            offset: offset.unwrap_or(0),
            limit: limit.unwrap_or(Self::DEFAULT_LIMIT),
        };
        if !(1..=Self::MAX_LIMIT).contains(&p.limit) || p.offset > Self::MAX_OFFSET {
            return Err(DomainError::invalid(
                "limit is 1 to 200, offset at most 1000000",
            ));
        }
        Ok(p)
    }

    /// The page of `items` of `total`.
    pub fn of<T>(self, items: Vec<T>, total: u64) -> Page<T> {
        Page {
            items,
            total,
            offset: self.offset,
            limit: self.limit,
        }
    }
}
