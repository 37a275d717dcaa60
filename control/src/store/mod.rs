//! The control plane's records and the engines that keep them.
//!
//! A narrow interface: records are typed (each a [`Record`] with a collection, an id
//! and a tenant), stored whole as JSON documents, and found with typed [`Filter`]s
//! whose fields are [`Field`] constants declared beside each record type
//! (`Interaction::AGENT`) — never text from a request, so no caller can smuggle an
//! operator into a query, and a misspelt field does not compile. Two engines
//! implement it:
//! - [`embedded`]: SQLite in the data folder (WAL, `synchronous = FULL`), the default;
//!   a write is acknowledged only once it is on disk, so `kill -9` loses nothing that
//!   was acknowledged;
//! - [`mongo`]: MongoDB, for deployments that share state between nodes (a replica
//!   set: records and their events are written in transactions).
//!
//! Every engine passes the same conformance suite (`conformance`, behind the feature of
//! that name: test code, not in the production library).

pub mod bootstrap;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod embedded;
pub mod ids;
mod migrations;
pub mod mongo;

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use embedded::Embedded;
pub use mongo::Mongo;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with this id (or unique key) exists already.
    #[error("{collection} already has a record with this {what}")]
    Duplicate {
        /// The collection.
        collection: &'static str,
        /// `id` or the unique key's name.
        what: &'static str,
    },
    /// A stored document no longer reads as its record type.
    #[error("stored {collection} record {id} is unreadable: {source}")]
    Corrupt {
        /// The collection.
        collection: &'static str,
        /// The record.
        id: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A filter named a field its collection does not index.
    #[error("{collection} cannot be filtered by {field}")]
    UnknownField {
        /// The collection.
        collection: &'static str,
        /// The field.
        field: &'static str,
    },
    /// The engine failed (disk, database file, connection).
    #[error("storage engine: {0}")]
    Engine(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The kinds of record, one collection each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    /// Domains: a company and its branches.
    Tenants,
    /// Admins, supervisors and agents.
    Users,
    /// Login sessions (by the hash of the cookie).
    Sessions,
    /// Integration tokens (by the hash of the token).
    ApiTokens,
    /// Interactions: one agent's call with one client, from creation to the end.
    Interactions,
    /// Short client links (`/j/<code>`).
    Links,
    /// The append-only event log.
    Events,
    /// Chat messages.
    Messages,
    /// Metadata of uploaded files.
    Files,
    /// Call detail records.
    Cdrs,
    /// Custom delivery connectors.
    Connectors,
    /// Call recordings.
    Recordings,
    /// Intercoms (door panels) and their last status.
    Devices,
    /// A collection for the conformance suite only.
    #[cfg(feature = "conformance")]
    Probes,
}

impl Collection {
    /// Every collection.
    pub const ALL: &'static [Collection] = &[
        Collection::Tenants,
        Collection::Users,
        Collection::Sessions,
        Collection::ApiTokens,
        Collection::Interactions,
        Collection::Links,
        Collection::Events,
        Collection::Messages,
        Collection::Files,
        Collection::Cdrs,
        Collection::Connectors,
        Collection::Recordings,
        Collection::Devices,
        #[cfg(feature = "conformance")]
        Collection::Probes,
    ];

    /// The collection's name (the MongoDB collection, the `coll` column).
    pub fn name(self) -> &'static str {
        match self {
            Collection::Tenants => "tenants",
            Collection::Users => "users",
            Collection::Sessions => "sessions",
            Collection::ApiTokens => "api_tokens",
            Collection::Interactions => "interactions",
            Collection::Links => "links",
            Collection::Events => "events",
            Collection::Messages => "messages",
            Collection::Files => "files",
            Collection::Cdrs => "cdr",
            Collection::Connectors => "connectors",
            Collection::Recordings => "recordings",
            Collection::Devices => "devices",
            #[cfg(feature = "conformance")]
            Collection::Probes => "probes",
        }
    }

    /// The top-level document fields queries may filter and sort on (the record
    /// type's [`Field`] constants); engines index them.
    pub fn fields(self) -> &'static [&'static str] {
        use crate::model::*;
        match self {
            Collection::Tenants => Tenant::FIELDS,
            Collection::Users => User::FIELDS,
            Collection::Sessions => Session::FIELDS,
            Collection::ApiTokens => ApiToken::FIELDS,
            Collection::Interactions => Interaction::FIELDS,
            Collection::Links => Link::FIELDS,
            Collection::Events => Event::FIELDS,
            Collection::Messages => ChatMessage::FIELDS,
            Collection::Files => FileMeta::FIELDS,
            Collection::Cdrs => Cdr::FIELDS,
            Collection::Connectors => Connector::FIELDS,
            Collection::Recordings => Recording::FIELDS,
            Collection::Devices => Device::FIELDS,
            #[cfg(feature = "conformance")]
            Collection::Probes => conformance::Probe::FIELDS,
        }
    }
}

/// A stored record type.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Where records of this type live.
    const COLLECTION: Collection;
    /// The fields queries may filter and sort on: the names of the type's [`Field`]
    /// constants (see the `record!` macro of `model`).
    const FIELDS: &'static [&'static str] = &[];
    /// The record's id, unique in its collection.
    fn id(&self) -> &str;
    /// The tenant the record belongs to.
    fn tenant(&self) -> &str;
    /// A second key unique in the collection (a user's login), if the type has one.
    fn unique_key(&self) -> Option<String> {
        None
    }
}

/// A field of `R` that queries may filter and sort on: made only beside the record
/// type (`Interaction::AGENT`), so a filter can name no other field, and no text from a
/// request can become a field name.
pub struct Field<R> {
    name: &'static str,
    record: PhantomData<fn() -> R>,
}

impl<R> Field<R> {
    /// The field `name` of `R`; for the record types' own constants.
    pub(crate) const fn new(name: &'static str) -> Field<R> {
        Field {
            name,
            record: PhantomData,
        }
    }

    /// A field `R` does not declare, for the conformance suite's refusal check.
    #[cfg(feature = "conformance")]
    pub(crate) const fn undeclared(name: &'static str) -> Field<R> {
        Field::new(name)
    }

    /// The document field's name.
    pub fn name(self) -> &'static str {
        self.name
    }
}

impl<R> Clone for Field<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Field<R> {}
impl<R> std::fmt::Debug for Field<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// A value a filter compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A whole number (times are Unix milliseconds).
    Int(i64),
    /// A flag.
    Bool(bool),
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

/// One condition of a filter, as the engines read it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    /// The record belongs to one of these tenants.
    TenantIn(Vec<String>),
    /// `field == value`.
    Eq(&'static str, Value),
    /// `field` is one of the values.
    In(&'static str, Vec<Value>),
    /// `field >= value`.
    Gte(&'static str, Value),
    /// `field < value`.
    Lt(&'static str, Value),
}

/// How results are ordered: by a field (ties by id), or by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// By id, ascending; ids made by [`ids::new_id`] sort by creation time.
    Id,
    /// By id, descending (newest first).
    IdDesc,
    /// By a field, ascending, ties by id.
    Asc(&'static str),
    /// By a field, descending, ties by id descending.
    Desc(&'static str),
}

/// A query over records of `R`: all conditions must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter<R> {
    pub(crate) conds: Vec<Cond>,
    pub(crate) order: Order,
    pub(crate) offset: u64,
    pub(crate) limit: u64,
    record: PhantomData<fn() -> R>,
}

impl<R: Record> Default for Filter<R> {
    fn default() -> Filter<R> {
        Filter {
            conds: Vec::new(),
            order: Order::Id,
            offset: 0,
            limit: 1000,
            record: PhantomData,
        }
    }
}

impl<R: Record> Filter<R> {
    /// Everything, oldest id first (up to 1000).
    pub fn all() -> Filter<R> {
        Filter::default()
    }

    fn and(mut self, cond: Cond) -> Filter<R> {
        self.conds.push(cond);
        self
    }

    /// `field == value`.
    pub fn eq(self, field: Field<R>, value: impl Into<Value>) -> Filter<R> {
        self.and(Cond::Eq(field.name, value.into()))
    }

    /// `field` is one of `values`.
    pub fn one_of(self, field: Field<R>, values: impl IntoIterator<Item = Value>) -> Filter<R> {
        self.and(Cond::In(field.name, values.into_iter().collect()))
    }

    /// `field >= value`.
    pub fn at_least(self, field: Field<R>, value: impl Into<Value>) -> Filter<R> {
        self.and(Cond::Gte(field.name, value.into()))
    }

    /// `field < value`.
    pub fn below(self, field: Field<R>, value: impl Into<Value>) -> Filter<R> {
        self.and(Cond::Lt(field.name, value.into()))
    }

    /// Records of these tenants only.
    pub fn tenants(self, tenants: Vec<String>) -> Filter<R> {
        self.and(Cond::TenantIn(tenants))
    }

    /// Newest id first.
    pub fn newest_first(mut self) -> Filter<R> {
        self.order = Order::IdDesc;
        self
    }

    /// By `field`, ascending (ties by id).
    pub fn by(mut self, field: Field<R>) -> Filter<R> {
        self.order = Order::Asc(field.name);
        self
    }

    /// By `field`, descending (ties by id, descending).
    pub fn by_desc(mut self, field: Field<R>) -> Filter<R> {
        self.order = Order::Desc(field.name);
        self
    }

    /// Sets paging.
    pub fn page(mut self, offset: u64, limit: u64) -> Filter<R> {
        self.offset = offset;
        self.limit = limit;
        self
    }

    /// Refuses fields `R` does not declare. Field constants are made only beside the
    /// record types, so this holds by construction; it stays as a guard for the
    /// engines' queries, and the conformance suite checks it.
    pub(crate) fn check(&self) -> StoreResult<()> {
        let known = R::FIELDS;
        let fields = self.conds.iter().filter_map(|c| match c {
            Cond::TenantIn(_) => None,
            Cond::Eq(f, _) | Cond::In(f, _) | Cond::Gte(f, _) | Cond::Lt(f, _) => Some(*f),
        });
        let order = match self.order {
            Order::Asc(f) | Order::Desc(f) => Some(f),
            Order::Id | Order::IdDesc => None,
        };
        for field in fields.chain(order) {
            if !known.contains(&field) {
                return Err(StoreError::UnknownField {
                    collection: R::COLLECTION.name(),
                    field,
                });
            }
        }
        Ok(())
    }
}

/// A record with its type erased, for [`Batch`].
#[derive(Debug, Clone)]
pub struct Erased {
    pub(crate) collection: Collection,
    pub(crate) id: String,
    pub(crate) tenant: String,
    pub(crate) unique_key: Option<String>,
    pub(crate) doc: serde_json::Value,
}

impl Erased {
    /// Erases `record`'s type.
    pub fn of<R: Record>(record: &R) -> Erased {
        Erased {
            collection: R::COLLECTION,
            id: record.id().to_string(),
            tenant: record.tenant().to_string(),
            unique_key: record.unique_key(),
            doc: serde_json::to_value(record).expect("records serialize"),
        }
    }
}

/// New records written together: all of them or none.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub(crate) inserts: Vec<Erased>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a new record.
    pub fn insert<R: Record>(&mut self, record: &R) -> &mut Batch {
        self.inserts.push(Erased::of(record));
        self
    }
}

/// Opens the store `config` names.
pub async fn open(
    config: &crate::config::StoreConfig,
    data_dir: &std::path::Path,
) -> StoreResult<Store> {
    match config.engine {
        crate::config::StoreEngine::Embedded => Ok(Store::Embedded(Embedded::open(data_dir)?)),
        crate::config::StoreEngine::Mongodb => {
            let uri = config.mongodb_uri.as_ref().ok_or_else(|| {
                StoreError::Engine("store.engine = \"mongodb\" needs store.mongodb_uri".into())
            })?;
            Ok(Store::Mongo(
                Mongo::open(uri.expose(), &config.mongodb_database).await?,
            ))
        }
    }
}

/// The store the server runs on.
#[derive(Clone)]
pub enum Store {
    /// SQLite in the data folder.
    Embedded(Embedded),
    /// MongoDB.
    Mongo(Mongo),
}

impl Store {
    /// Adds a new record; [`StoreError::Duplicate`] if its id or unique key is taken.
    pub async fn insert<R: Record>(&self, record: &R) -> StoreResult<()> {
        match self {
            Store::Embedded(s) => s.insert(record).await,
            Store::Mongo(s) => s.insert(record).await,
        }
    }

    /// Inserts every record of `batch` in one transaction: a crash or a duplicate
    /// leaves none of them.
    pub async fn commit(&self, batch: Batch) -> StoreResult<()> {
        match self {
            Store::Embedded(s) => s.commit(batch).await,
            Store::Mongo(s) => s.commit(batch).await,
        }
    }

    /// The record with `id`, if any.
    pub async fn get<R: Record>(&self, id: &str) -> StoreResult<Option<R>> {
        match self {
            Store::Embedded(s) => s.get(id).await,
            Store::Mongo(s) => s.get(id).await,
        }
    }

    /// The record whose unique key is `key`, if any.
    pub async fn get_unique<R: Record>(&self, key: &str) -> StoreResult<Option<R>> {
        match self {
            Store::Embedded(s) => s.get_unique(key).await,
            Store::Mongo(s) => s.get_unique(key).await,
        }
    }

    /// Reads the record, lets `change` edit it, and writes it back atomically: no
    /// other update of the record lands in between. `change` returning `Err` leaves the
    /// record as it was. `Ok(None)` when there is no such record.
    pub async fn update<R, T, E, F>(&self, id: &str, change: F) -> StoreResult<Option<Result<T, E>>>
    where
        R: Record,
        T: Send + 'static,
        E: Send + 'static,
        F: FnMut(&mut R) -> Result<T, E> + Send + 'static,
    {
        let mut change = change;
        self.update_with::<R, T, E, _>(id, move |r, _| change(r))
            .await
    }

    /// As [`Store::update`], and `change` may add new records to the batch it is
    /// given; they are written in the same transaction as the change (an event with the
    /// state change it reports, say).
    pub async fn update_with<R, T, E, F>(
        &self,
        id: &str,
        change: F,
    ) -> StoreResult<Option<Result<T, E>>>
    where
        R: Record,
        T: Send + 'static,
        E: Send + 'static,
        F: FnMut(&mut R, &mut Batch) -> Result<T, E> + Send + 'static,
    {
        match self {
            Store::Embedded(s) => s.update_with(id, change).await,
            Store::Mongo(s) => s.update_with(id, change).await,
        }
    }

    /// Records matching `filter`.
    pub async fn find<R: Record>(&self, filter: &Filter<R>) -> StoreResult<Vec<R>> {
        filter.check()?;
        match self {
            Store::Embedded(s) => s.find(filter).await,
            Store::Mongo(s) => s.find(filter).await,
        }
    }

    /// How many records match `filter` (its paging ignored).
    pub async fn count<R: Record>(&self, filter: &Filter<R>) -> StoreResult<u64> {
        filter.check()?;
        match self {
            Store::Embedded(s) => s.count(filter).await,
            Store::Mongo(s) => s.count(filter).await,
        }
    }

    /// Removes the record; whether it existed.
    pub async fn delete<R: Record>(&self, id: &str) -> StoreResult<bool> {
        match self {
            Store::Embedded(s) => s.delete(R::COLLECTION, id).await,
            Store::Mongo(s) => s.delete(R::COLLECTION, id).await,
        }
    }

    /// The schema version the store is at.
    pub async fn schema_version(&self) -> StoreResult<u32> {
        match self {
            Store::Embedded(s) => s.schema_version().await,
            Store::Mongo(s) => s.schema_version().await,
        }
    }
}
