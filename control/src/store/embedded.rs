//! The embedded store: SQLite in `<data_dir>/vchat.db`.
//!
//! WAL journal with `synchronous = FULL`: a commit returns only after its WAL frame is
//! on disk, so an acknowledged write survives `kill -9` and power loss alike. SQLite
//! is synchronous, so each operation runs on tokio's blocking pool; one connection
//! behind a mutex serialises writers, which is what SQLite does anyway.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::migrations::MIGRATIONS;
use super::{
    Batch, Collection, Cond, Erased, Filter, Order, Record, StoreError, StoreResult, Value,
};

/// The embedded store's file name in the data folder.
pub const FILE_NAME: &str = "vchat.db";

/// The schema version this vchat migrates to (and the newest it can open).
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// A handle to the embedded store; clones share the connection.
#[derive(Clone)]
pub struct Embedded {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn engine(e: rusqlite::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

impl Embedded {
    /// Opens (creating if needed) the store in `data_dir` and migrates it to the
    /// current schema.
    pub fn open(data_dir: &Path) -> StoreResult<Embedded> {
        let path = data_dir.join(FILE_NAME);
        let mut conn = Connection::open(&path).map_err(engine)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(engine)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(engine)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(engine)?;
        migrate(&mut conn)?;
        Ok(Embedded {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Engine(format!("store task failed: {e}")))?
    }

    pub(super) async fn insert<R: Record>(&self, record: &R) -> StoreResult<()> {
        let coll = R::COLLECTION;
        let doc = serde_json::to_string(record).expect("records serialize");
        let (id, tenant, ukey) = (
            record.id().to_string(),
            record.tenant().to_string(),
            record.unique_key(),
        );
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO records (coll, id, tenant, version, ukey, doc) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
                (coll.name(), &id, &tenant, &ukey, &doc),
            )
            .map_err(|e| duplicate_or(coll, &e, conn, &id))?;
            Ok(())
        })
        .await
    }

    pub(super) async fn get<R: Record>(&self, id: &str) -> StoreResult<Option<R>> {
        let id = id.to_string();
        self.with(move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM records WHERE coll = ?1 AND id = ?2",
                    (R::COLLECTION.name(), &id),
                    |row| row.get(0),
                )
                .optional()
                .map_err(engine)?;
            doc.map(|d| decode::<R>(&id, &d)).transpose()
        })
        .await
    }

    pub(super) async fn get_unique<R: Record>(&self, key: &str) -> StoreResult<Option<R>> {
        let key = key.to_string();
        self.with(move |conn| {
            let row: Option<(String, String)> = conn
                .query_row(
                    "SELECT id, doc FROM records WHERE coll = ?1 AND ukey = ?2",
                    (R::COLLECTION.name(), &key),
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(engine)?;
            row.map(|(id, d)| decode::<R>(&id, &d)).transpose()
        })
        .await
    }

    pub(super) async fn commit(&self, batch: Batch) -> StoreResult<()> {
        self.with(move |conn| {
            let tx = conn.transaction().map_err(engine)?;
            insert_erased(&tx, &batch.inserts)?;
            tx.commit().map_err(engine)
        })
        .await
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
        let id = id.to_string();
        self.with(move |conn| {
            let coll = R::COLLECTION;
            let tx = conn.transaction().map_err(engine)?;
            let doc: Option<String> = tx
                .query_row(
                    "SELECT doc FROM records WHERE coll = ?1 AND id = ?2",
                    (coll.name(), &id),
                    |row| row.get(0),
                )
                .optional()
                .map_err(engine)?;
            let Some(doc) = doc else { return Ok(None) };
            let mut record: R = decode(&id, &doc)?;
            let mut batch = Batch::new();
            let out = match change(&mut record, &mut batch) {
                Ok(out) => out,
                Err(e) => return Ok(Some(Err(e))),
            };
            if record.id() != id {
                return Err(StoreError::Engine("an update may not change the id".into()));
            }
            let doc = serde_json::to_string(&record).expect("records serialize");
            tx.execute(
                "UPDATE records SET doc = ?3, tenant = ?4, ukey = ?5, version = version + 1 WHERE coll = ?1 AND id = ?2",
                (coll.name(), &id, &doc, record.tenant(), record.unique_key()),
            )
            .map_err(|e| duplicate_or(coll, &e, &tx, "\u{0}"))?;
            insert_erased(&tx, &batch.inserts)?;
            tx.commit().map_err(engine)?;
            Ok(Some(Ok(out)))
        })
        .await
    }

    pub(super) async fn find<R: Record>(&self, filter: &Filter<R>) -> StoreResult<Vec<R>> {
        let (where_sql, params) = where_clause(R::COLLECTION, &filter.conds);
        let order = match filter.order {
            Order::Id => "id ASC".to_string(),
            Order::IdDesc => "id DESC".to_string(),
            Order::Asc(f) => format!("{} ASC, id ASC", field_expr(f)),
            Order::Desc(f) => format!("{} DESC, id DESC", field_expr(f)),
        };
        let sql = format!(
            "SELECT id, doc FROM records WHERE {where_sql} ORDER BY {order} LIMIT {} OFFSET {}",
            i64::try_from(filter.limit).unwrap_or(i64::MAX),
            i64::try_from(filter.offset).unwrap_or(i64::MAX),
        );
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(engine)?;
            let rows = stmt
                .query_map(params_from_iter(params), |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(engine)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, doc) = row.map_err(engine)?;
                out.push(decode::<R>(&id, &doc)?);
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn count<R: Record>(&self, filter: &Filter<R>) -> StoreResult<u64> {
        let (where_sql, params) = where_clause(R::COLLECTION, &filter.conds);
        let sql = format!("SELECT count(*) FROM records WHERE {where_sql}");
        self.with(move |conn| {
            let n: i64 = conn
                .query_row(&sql, params_from_iter(params), |row| row.get(0))
                .map_err(engine)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    pub(super) async fn delete(&self, coll: Collection, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.with(move |conn| {
            let n = conn
                .execute(
                    "DELETE FROM records WHERE coll = ?1 AND id = ?2",
                    (coll.name(), &id),
                )
                .map_err(engine)?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn schema_version(&self) -> StoreResult<u32> {
        self.with(|conn| {
            conn.pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(engine)
        })
        .await
    }
}

fn insert_erased(conn: &Connection, records: &[Erased]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO records (coll, id, tenant, version, ukey, doc) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
        )
        .map_err(engine)?;
    for r in records {
        stmt.execute((
            r.collection.name(),
            &r.id,
            &r.tenant,
            &r.unique_key,
            r.doc.to_string(),
        ))
        .map_err(|e| duplicate_or(r.collection, &e, conn, &r.id))?;
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: usize = conn
        .pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))
        .map_err(engine)?
        .try_into()
        .unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Engine(format!(
            "the database is at schema version {current}, newer than this vchat knows ({}); run a newer vchat",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().map_err(engine)?;
        tx.execute_batch(sql).map_err(engine)?;
        tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(0))
            .map_err(engine)?;
        tx.commit().map_err(engine)?;
        tracing::info!("store migrated to schema version {}", i + 1);
    }
    Ok(())
}

/// `json_extract(doc, '$.field')` — field names are static identifiers, checked here
/// once more so nothing but `[a-z_]` reaches the SQL text.
fn field_expr(field: &str) -> String {
    assert!(
        field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "field names are identifiers"
    );
    format!("json_extract(doc, '$.{field}')")
}

fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::Text(s) => SqlValue::Text(s.clone()),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
    }
}

fn where_clause(coll: Collection, conds: &[Cond]) -> (String, Vec<SqlValue>) {
    let mut sql = String::from("coll = ?");
    let mut params = vec![SqlValue::Text(coll.name().into())];
    for cond in conds {
        match cond {
            Cond::TenantIn(tenants) => {
                if tenants.is_empty() {
                    sql.push_str(" AND 0");
                } else {
                    sql.push_str(" AND tenant IN (");
                    sql.push_str(&vec!["?"; tenants.len()].join(","));
                    sql.push(')');
                    params.extend(tenants.iter().map(|t| SqlValue::Text(t.clone())));
                }
            }
            Cond::Eq(f, v) => {
                sql.push_str(&format!(" AND {} = ?", field_expr(f)));
                params.push(sql_value(v));
            }
            Cond::In(f, vs) => {
                if vs.is_empty() {
                    sql.push_str(" AND 0");
                } else {
                    sql.push_str(&format!(
                        " AND {} IN ({})",
                        field_expr(f),
                        vec!["?"; vs.len()].join(",")
                    ));
                    params.extend(vs.iter().map(sql_value));
                }
            }
            Cond::Gte(f, v) => {
                sql.push_str(&format!(" AND {} >= ?", field_expr(f)));
                params.push(sql_value(v));
            }
            Cond::Lt(f, v) => {
                sql.push_str(&format!(" AND {} < ?", field_expr(f)));
                params.push(sql_value(v));
            }
        }
    }
    (sql, params)
}

fn decode<R: Record>(id: &str, doc: &str) -> StoreResult<R> {
    serde_json::from_str(doc).map_err(|source| StoreError::Corrupt {
        collection: R::COLLECTION.name(),
        id: id.to_string(),
        source,
    })
}

/// Maps a unique-constraint failure to [`StoreError::Duplicate`] (which key: the id
/// when a record with it exists, else the unique key).
fn duplicate_or(coll: Collection, e: &rusqlite::Error, conn: &Connection, id: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = e
        && f.code == rusqlite::ErrorCode::ConstraintViolation
    {
        let id_taken = conn
            .query_row(
                "SELECT 1 FROM records WHERE coll = ?1 AND id = ?2",
                (coll.name(), id),
                |_| Ok(()),
            )
            .optional()
            .ok()
            .flatten()
            .is_some();
        return StoreError::Duplicate {
            collection: coll.name(),
            what: if id_taken { "id" } else { "unique key" },
        };
    }
    StoreError::Engine(e.to_string())
}
