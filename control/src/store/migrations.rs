//! The embedded store's schema, as numbered migrations.
//!
//! `PRAGMA user_version` holds how many have run. Each runs in its own transaction
//! with the version bump, so a crash mid-migration leaves the previous version intact.
//! Never edit a released migration: append a new one.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: one table of JSON documents, keyed by collection and id.
    "CREATE TABLE records (
        coll    TEXT    NOT NULL,
        id      TEXT    NOT NULL,
        tenant  TEXT    NOT NULL,
        version INTEGER NOT NULL,
        ukey    TEXT,
        doc     TEXT    NOT NULL CHECK (json_valid(doc)),
        PRIMARY KEY (coll, id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX records_ukey ON records (coll, ukey) WHERE ukey IS NOT NULL;
    CREATE INDEX records_tenant ON records (coll, tenant, id);",
    // 2: the fields queries filter and sort on (Collection::fields).
    "CREATE INDEX records_state ON records (coll, json_extract(doc, '$.state'));
    CREATE INDEX records_agent ON records (coll, json_extract(doc, '$.agent'));
    CREATE INDEX records_created_at ON records (coll, json_extract(doc, '$.created_at'));
    CREATE INDEX records_scheduled_at ON records (coll, json_extract(doc, '$.scheduled_at'));
    CREATE INDEX records_interaction ON records (coll, json_extract(doc, '$.interaction'));
    CREATE INDEX records_user ON records (coll, json_extract(doc, '$.user'));
    CREATE INDEX records_parent ON records (coll, json_extract(doc, '$.parent'));
    CREATE INDEX records_at ON records (coll, json_extract(doc, '$.at'));",
    // 3: finished calls by end time (the call store's sweep, CDR reports).
    "CREATE INDEX records_ended_at ON records (coll, json_extract(doc, '$.ended_at'));
    CREATE INDEX records_disposition ON records (coll, json_extract(doc, '$.disposition'));",
];
