//! The MongoDB store, for deployments whose nodes share state (and cold standbys).
//!
//! One MongoDB collection per [`Collection`]; each document is the record's JSON plus
//! `_id` (the record id), `_t` (its tenant), `_uk` (its unique key, when it has one)
//! and `_v` (a version for optimistic updates). Indexes are created at start-up.
//! Writes that must land together (a record and its event) use a transaction, so the
//! server must be a replica set — a single-node one is enough.

use std::time::Duration;

use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, ClientSession, Database, IndexModel};

use super::{
    Batch, Collection, Cond, Erased, Filter, Order, Record, StoreError, StoreResult, Value,
};

/// The schema version this code brings the database to (as the embedded store's).
const SCHEMA_VERSION: i64 = 3;
/// Optimistic update retries before giving up.
const UPDATE_RETRIES: usize = 100;

/// A handle to the MongoDB store; clones share the connection pool.
#[derive(Clone)]
pub struct Mongo {
    client: Client,
    db: Database,
}

fn engine(e: MongoError) -> StoreError {
    StoreError::Engine(e.to_string())
}

fn is_duplicate(e: &MongoError) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|w| w.iter().any(|e| e.code == 11000)),
        _ => e.to_string().contains("E11000"),
    }
}

fn duplicate(collection: Collection, e: &MongoError) -> StoreError {
    StoreError::Duplicate {
        collection: collection.name(),
        what: if e.to_string().contains("_id_") {
            "id"
        } else {
            "unique key"
        },
    }
}

fn to_document(r: &Erased, version: i64) -> StoreResult<Document> {
    let mut d = match bson::to_bson(&r.doc) {
        Ok(Bson::Document(d)) => d,
        Ok(_) => return Err(StoreError::Engine("a record is not a JSON object".into())),
        Err(e) => return Err(StoreError::Engine(format!("record to BSON: {e}"))),
    };
    d.insert("_id", r.id.clone());
    d.insert("_t", r.tenant.clone());
    if let Some(k) = &r.unique_key {
        d.insert("_uk", k.clone());
    }
    d.insert("_v", version);
    Ok(d)
}

fn from_document<R: Record>(mut d: Document) -> StoreResult<R> {
    let id = d.get_str("_id").unwrap_or_default().to_string();
    for k in ["_id", "_t", "_uk", "_v"] {
        d.remove(k);
    }
    let json: serde_json::Value =
        bson::from_document(d).map_err(|e| StoreError::Engine(format!("BSON to JSON: {e}")))?;
    serde_json::from_value(json).map_err(|source| StoreError::Corrupt {
        collection: R::COLLECTION.name(),
        id,
        source,
    })
}

fn bson_value(v: &Value) -> Bson {
    match v {
        Value::Text(s) => Bson::String(s.clone()),
        Value::Int(i) => Bson::Int64(*i),
        Value::Bool(b) => Bson::Boolean(*b),
    }
}

/// The typed filter as a MongoDB query. Field names are the record types' constants;
/// values are always values (never operators), so `{"$gt": ""}` as text is text.
fn query(conds: &[Cond]) -> Document {
    let mut all: Vec<Bson> = Vec::new();
    for cond in conds {
        let d = match cond {
            Cond::TenantIn(ts) => {
                doc! { "_t": { "$in": ts.iter().map(|t| Bson::String(t.clone())).collect::<Vec<_>>() } }
            }
            Cond::Eq(f, v) => doc! { *f: { "$eq": bson_value(v) } },
            Cond::In(f, vs) => {
                doc! { *f: { "$in": vs.iter().map(bson_value).collect::<Vec<_>>() } }
            }
            Cond::Gte(f, v) => doc! { *f: { "$gte": bson_value(v) } },
            Cond::Lt(f, v) => doc! { *f: { "$lt": bson_value(v) } },
        };
        all.push(Bson::Document(d));
    }
    if all.is_empty() {
        doc! {}
    } else {
        doc! { "$and": all }
    }
}

fn sort(order: Order) -> Document {
    match order {
        Order::Id => doc! { "_id": 1 },
        Order::IdDesc => doc! { "_id": -1 },
        Order::Asc(f) => doc! { f: 1, "_id": 1 },
        Order::Desc(f) => doc! { f: -1, "_id": -1 },
    }
}

impl Mongo {
    /// Connects to `uri`, uses `database`, creates the indexes and records the schema
    /// version.
    pub async fn open(uri: &str, database: &str) -> StoreResult<Mongo> {
        let mut options = ClientOptions::parse(uri).await.map_err(engine)?;
        options.app_name = Some("vchat".into());
        options.server_selection_timeout = Some(
            options
                .server_selection_timeout
                .unwrap_or(Duration::from_secs(10)),
        );
        let client = Client::with_options(options).map_err(engine)?;
        let db = client.database(database);
        let store = Mongo { client, db };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let meta = self.db.collection::<Document>("_schema");
        let current = meta
            .find_one(doc! { "_id": "schema" })
            .await
            .map_err(engine)?
            .and_then(|d| d.get_i64("version").ok())
            .unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::Engine(format!(
                "the database is at schema version {current}, newer than this vchat knows ({SCHEMA_VERSION}); run a newer vchat"
            )));
        }
        // Every version's indexes, idempotently: createIndexes is a no-op for ones
        // that exist.
        for c in Collection::ALL {
            let coll = self.db.collection::<Document>(c.name());
            let mut models = vec![
                IndexModel::builder()
                    .keys(doc! { "_t": 1, "_id": 1 })
                    .build(),
                IndexModel::builder()
                    .keys(doc! { "_uk": 1 })
                    .options(
                        IndexOptions::builder()
                            .unique(true)
                            .partial_filter_expression(doc! { "_uk": { "$exists": true } })
                            .build(),
                    )
                    .build(),
            ];
            for f in c.fields() {
                models.push(IndexModel::builder().keys(doc! { *f: 1 }).build());
            }
            coll.create_indexes(models).await.map_err(engine)?;
        }
        meta.update_one(
            doc! { "_id": "schema" },
            doc! { "$set": { "version": SCHEMA_VERSION } },
        )
        .upsert(true)
        .await
        .map_err(engine)?;
        Ok(())
    }

    fn coll(&self, c: Collection) -> mongodb::Collection<Document> {
        self.db.collection(c.name())
    }

    pub(super) async fn insert<R: Record>(&self, record: &R) -> StoreResult<()> {
        let d = to_document(&Erased::of(record), 1)?;
        self.coll(R::COLLECTION).insert_one(d).await.map_err(|e| {
            if is_duplicate(&e) {
                duplicate(R::COLLECTION, &e)
            } else {
                engine(e)
            }
        })?;
        Ok(())
    }

    async fn insert_all(&self, session: &mut ClientSession, records: &[Erased]) -> StoreResult<()> {
        for r in records {
            let d = to_document(r, 1)?;
            self.coll(r.collection)
                .insert_one(d)
                .session(&mut *session)
                .await
                .map_err(|e| {
                    if is_duplicate(&e) {
                        duplicate(r.collection, &e)
                    } else {
                        engine(e)
                    }
                })?;
        }
        Ok(())
    }

    pub(super) async fn commit(&self, batch: Batch) -> StoreResult<()> {
        let mut session = self.client.start_session().await.map_err(engine)?;
        session.start_transaction().await.map_err(engine)?;
        match self.insert_all(&mut session, &batch.inserts).await {
            Ok(()) => session.commit_transaction().await.map_err(engine),
            Err(e) => {
                let _ = session.abort_transaction().await;
                Err(e)
            }
        }
    }

    pub(super) async fn get<R: Record>(&self, id: &str) -> StoreResult<Option<R>> {
        self.coll(R::COLLECTION)
            .find_one(doc! { "_id": id })
            .await
            .map_err(engine)?
            .map(from_document)
            .transpose()
    }

    pub(super) async fn get_unique<R: Record>(&self, key: &str) -> StoreResult<Option<R>> {
        self.coll(R::COLLECTION)
            .find_one(doc! { "_uk": key })
            .await
            .map_err(engine)?
            .map(from_document)
            .transpose()
    }

    pub(super) async fn update_with<R, T, E, F>(
        &self,
        id: &str,
        mut change: F,
    ) -> StoreResult<Option<Result<T, E>>>
    where
        R: Record,
        T: Send + 'static,
        E: Send + 'static,
        F: FnMut(&mut R, &mut Batch) -> Result<T, E> + Send + 'static,
    {
        let coll = self.coll(R::COLLECTION);
        for _ in 0..UPDATE_RETRIES {
            let Some(current) = coll.find_one(doc! { "_id": id }).await.map_err(engine)? else {
                return Ok(None);
            };
            let version = current.get_i64("_v").unwrap_or(0);
            let mut record: R = from_document(current)?;
            let mut batch = Batch::new();
            let out = match change(&mut record, &mut batch) {
                Ok(out) => out,
                Err(e) => return Ok(Some(Err(e))),
            };
            if record.id() != id {
                return Err(StoreError::Engine("an update may not change the id".into()));
            }
            let next = to_document(&Erased::of(&record), version + 1)?;
            let mut session = self.client.start_session().await.map_err(engine)?;
            session.start_transaction().await.map_err(engine)?;
            let replaced = coll
                .replace_one(doc! { "_id": id, "_v": version }, next)
                .session(&mut session)
                .await
                .map_err(|e| {
                    if is_duplicate(&e) {
                        duplicate(R::COLLECTION, &e)
                    } else {
                        engine(e)
                    }
                });
            let replaced = match replaced {
                Ok(r) => r,
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    return Err(e);
                }
            };
            if replaced.matched_count == 0 {
                // Someone else updated it first: read again and re-apply.
                let _ = session.abort_transaction().await;
                continue;
            }
            if let Err(e) = self.insert_all(&mut session, &batch.inserts).await {
                let _ = session.abort_transaction().await;
                return Err(e);
            }
            session.commit_transaction().await.map_err(engine)?;
            return Ok(Some(Ok(out)));
        }
        Err(StoreError::Engine(format!(
            "{} {id} kept changing under {UPDATE_RETRIES} update attempts",
            R::COLLECTION.name()
        )))
    }

    pub(super) async fn find<R: Record>(&self, filter: &Filter<R>) -> StoreResult<Vec<R>> {
        let mut cursor = self
            .coll(R::COLLECTION)
            .find(query(&filter.conds))
            .sort(sort(filter.order))
            .skip(filter.offset)
            .limit(i64::try_from(filter.limit).unwrap_or(i64::MAX))
            .await
            .map_err(engine)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(engine)? {
            let d = cursor.deserialize_current().map_err(engine)?;
            out.push(from_document(d)?);
        }
        Ok(out)
    }

    pub(super) async fn count<R: Record>(&self, filter: &Filter<R>) -> StoreResult<u64> {
        self.coll(R::COLLECTION)
            .count_documents(query(&filter.conds))
            .await
            .map_err(engine)
    }

    pub(super) async fn delete(&self, c: Collection, id: &str) -> StoreResult<bool> {
        let r = self
            .coll(c)
            .delete_one(doc! { "_id": id })
            .await
            .map_err(engine)?;
        Ok(r.deleted_count > 0)
    }

    pub(super) async fn schema_version(&self) -> StoreResult<u32> {
        let v = self
            .db
            .collection::<Document>("_schema")
            .find_one(doc! { "_id": "schema" })
            .await
            .map_err(engine)?
            .and_then(|d| d.get_i64("version").ok())
            .unwrap_or(0);
        Ok(u32::try_from(v).unwrap_or(0))
    }

    /// Drops the database (tests only).
    pub async fn drop_database(&self) -> StoreResult<()> {
        self.db.drop().await.map_err(engine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_queries_with_values_never_operators() {
        use crate::model::Interaction;
        let f = Filter::<Interaction>::all()
            .tenants(vec!["a".into()])
            .eq(Interaction::AGENT, "{\"$gt\": \"\"}")
            .at_least(Interaction::CREATED_AT, 5);
        let q = query(&f.conds);
        assert_eq!(
            q,
            doc! { "$and": [
                { "_t": { "$in": ["a"] } },
                { "agent": { "$eq": "{\"$gt\": \"\"}" } },
                { "created_at": { "$gte": 5_i64 } },
            ] }
        );
        assert_eq!(
            sort(Order::Desc("created_at")),
            doc! { "created_at": -1, "_id": -1 }
        );
    }

    #[test]
    fn documents_round_trip_with_their_bookkeeping_fields() {
        use crate::model::Connector;
        let p = Connector {
            id: "x".into(),
            tenant: "t".into(),
            name: "n".into(),
            token_digest: "k".into(),
            key_digest: "d".into(),
            created_at: 7,
        };
        let d = to_document(&Erased::of(&p), 3).unwrap();
        assert_eq!(d.get_str("_id").unwrap(), "x");
        assert_eq!(d.get_str("_t").unwrap(), "t");
        assert_eq!(d.get_str("_uk").unwrap(), "k");
        assert_eq!(d.get_i64("_v").unwrap(), 3);
        assert_eq!(from_document::<Connector>(d).unwrap(), p);
    }
}
