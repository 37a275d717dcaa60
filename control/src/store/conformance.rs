//! The behaviour every store engine must show, as one suite the tests run against each
//! engine (`tests/store_engines_keep_one_contract.rs`). Panics on the first difference.

use serde::{Deserialize, Serialize};

use super::{Batch, Collection, Field, Filter, Record, Store, StoreError, Value};

/// The record the suite stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// A number to filter and sort on.
    pub n: i64,
    /// Text to filter on.
    pub label: String,
    /// A flag to filter on.
    pub flag: bool,
    /// A unique key.
    pub key: Option<String>,
}

crate::model::fields!(Probe {
    N: "n",
    LABEL: "label",
    FLAG: "flag"
});

impl Record for Probe {
    const COLLECTION: Collection = Collection::Probes;
    const FIELDS: &'static [&'static str] = Probe::INDEXED;
    fn id(&self) -> &str {
        &self.id
    }
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn unique_key(&self) -> Option<String> {
        self.key.clone()
    }
}

fn probe(id: &str, tenant: &str, n: i64, label: &str) -> Probe {
    Probe {
        id: id.into(),
        tenant: tenant.into(),
        n,
        label: label.into(),
        flag: n % 2 == 0,
        key: None,
    }
}

/// Runs every check against an empty `store`. `prefix` keeps ids of repeated runs
/// against a shared server apart.
pub async fn run(store: &Store, prefix: &str) {
    let id = |s: &str| format!("{prefix}{s}");
    round_trip_and_duplicates(store, &id).await;
    updates_are_atomic(store, &id).await;
    filters_sort_and_page(store, &id).await;
    hostile_values_match_literally(store, &id).await;
    batches_are_all_or_nothing(store, &id).await;
    unknown_fields_are_refused(store).await;
    assert!(store.schema_version().await.expect("version") >= 2);
}

async fn round_trip_and_duplicates(store: &Store, id: &impl Fn(&str) -> String) {
    let mut a = probe(&id("a"), "t1", 1, "first");
    a.key = Some(id("key-a"));
    store.insert(&a).await.expect("insert");
    assert_eq!(
        store.get::<Probe>(&a.id).await.expect("get"),
        Some(a.clone())
    );
    assert_eq!(
        store
            .get_unique::<Probe>(&id("key-a"))
            .await
            .expect("get_unique"),
        Some(a.clone())
    );
    assert_eq!(store.get::<Probe>(&id("missing")).await.expect("get"), None);

    let again = probe(&a.id, "t2", 9, "other");
    assert!(
        matches!(
            store.insert(&again).await,
            Err(StoreError::Duplicate { what: "id", .. })
        ),
        "a second record with the same id is refused"
    );
    let mut same_key = probe(&id("b"), "t1", 2, "second");
    same_key.key = a.key.clone();
    assert!(
        matches!(
            store.insert(&same_key).await,
            Err(StoreError::Duplicate { .. })
        ),
        "a second record with the same unique key is refused"
    );
    assert_eq!(
        store.get::<Probe>(&id("b")).await.expect("get"),
        None,
        "nothing half-written"
    );
    assert_eq!(
        store.get::<Probe>(&a.id).await.expect("get"),
        Some(a.clone()),
        "the first is intact"
    );

    assert!(store.delete::<Probe>(&a.id).await.expect("delete"));
    assert!(!store.delete::<Probe>(&a.id).await.expect("delete twice"));
    assert_eq!(store.get::<Probe>(&a.id).await.expect("get"), None);
    // The key is free again.
    same_key.key = Some(id("key-a"));
    store
        .insert(&same_key)
        .await
        .expect("key reusable after delete");
    store.delete::<Probe>(&same_key.id).await.expect("delete");
}

async fn updates_are_atomic(store: &Store, id: &impl Fn(&str) -> String) {
    let c = probe(&id("counter"), "t1", 0, "counter");
    store.insert(&c).await.expect("insert");
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = store.clone();
        let cid = c.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .update::<Probe, (), (), _>(&cid, |p| {
                    p.n += 1;
                    Ok(())
                })
                .await
                .expect("update")
                .expect("exists")
                .expect("changed");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let after = store
        .get::<Probe>(&c.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(after.n, 40, "40 concurrent increments, none lost");

    // A refused change leaves the record as it was.
    let refused = store
        .update::<Probe, (), &str, _>(&c.id, |p| {
            p.n = -1;
            Err("no")
        })
        .await
        .expect("update");
    assert_eq!(refused, Some(Err("no")));
    assert_eq!(
        store
            .get::<Probe>(&c.id)
            .await
            .expect("get")
            .expect("exists")
            .n,
        40
    );
    let missing = store
        .update::<Probe, (), (), _>(&id("nobody"), |_| Ok(()))
        .await
        .expect("update");
    assert!(missing.is_none());

    // A change that takes a unique key another record holds is refused whole.
    let mut holder = probe(&id("holder"), "t1", 0, "holder");
    holder.key = Some(id("held"));
    store.insert(&holder).await.expect("insert");
    let held = id("held");
    let clash = store
        .update::<Probe, (), (), _>(&c.id, move |p| {
            p.key = Some(held.clone());
            p.n = 1000;
            Ok(())
        })
        .await;
    assert!(
        matches!(clash, Err(StoreError::Duplicate { .. })),
        "{clash:?}"
    );
    assert_eq!(
        store
            .get::<Probe>(&c.id)
            .await
            .expect("get")
            .expect("exists")
            .n,
        40
    );
    store.delete::<Probe>(&c.id).await.expect("delete");
    store.delete::<Probe>(&holder.id).await.expect("delete");
}

async fn filters_sort_and_page(store: &Store, id: &impl Fn(&str) -> String) {
    for n in 0..20 {
        let tenant = if n < 12 { "alpha" } else { "beta" };
        let label = if n % 3 == 0 { "fizz" } else { "plain" };
        store
            .insert(&probe(&id(&format!("f{n:02}")), tenant, n, label))
            .await
            .expect("insert");
    }
    let ours = |f: Filter<Probe>| f.at_least(Probe::LABEL, Value::Text(String::new()));
    let ns = |v: Vec<Probe>| v.into_iter().map(|p| p.n).collect::<Vec<_>>();

    let all = store
        .find::<Probe>(&ours(Filter::all()))
        .await
        .expect("find");
    assert_eq!(ns(all), (0..20).collect::<Vec<_>>(), "id order");
    let alpha = Filter::all().tenants(vec!["alpha".into()]);
    assert_eq!(store.count::<Probe>(&alpha).await.expect("count"), 12);
    let none = Filter::all().tenants(vec![]);
    assert_eq!(
        store.count::<Probe>(&none).await.expect("count"),
        0,
        "no tenants, nothing"
    );
    let fizz_beta = Filter::all()
        .tenants(vec!["beta".into()])
        .eq(Probe::LABEL, "fizz");
    assert_eq!(
        ns(store.find(&fizz_beta).await.expect("find")),
        vec![12, 15, 18]
    );
    let range = Filter::all()
        .at_least(Probe::N, Value::Int(5))
        .below(Probe::N, Value::Int(9));
    assert_eq!(
        ns(store.find(&range).await.expect("find")),
        vec![5, 6, 7, 8]
    );
    let set = Filter::all().one_of(
        Probe::N,
        vec![Value::Int(3), Value::Int(17), Value::Int(99)],
    );
    assert_eq!(ns(store.find(&set).await.expect("find")), vec![3, 17]);
    let empty_set = Filter::all().one_of(Probe::N, vec![]);
    assert_eq!(store.count::<Probe>(&empty_set).await.expect("count"), 0);
    let flags = Filter::all()
        .eq(Probe::FLAG, true)
        .below(Probe::N, Value::Int(6));
    assert_eq!(ns(store.find(&flags).await.expect("find")), vec![0, 2, 4]);

    let desc = ours(Filter::all()).by_desc(Probe::N).page(2, 3);
    assert_eq!(
        ns(store.find(&desc).await.expect("find")),
        vec![17, 16, 15],
        "sort then page"
    );
    let newest = ours(Filter::all()).newest_first().page(0, 2);
    assert_eq!(ns(store.find(&newest).await.expect("find")), vec![19, 18]);
    let by_label = ours(Filter::all()).by(Probe::LABEL).page(0, 7);
    assert_eq!(
        ns(store.find(&by_label).await.expect("find")),
        vec![0, 3, 6, 9, 12, 15, 18],
        "ties by id"
    );
    let past_end = ours(Filter::all()).page(40, 10);
    assert!(
        store
            .find::<Probe>(&past_end)
            .await
            .expect("find")
            .is_empty()
    );
    assert_eq!(
        store
            .count::<Probe>(&ours(Filter::all()).page(40, 10))
            .await
            .expect("count"),
        20,
        "count ignores paging"
    );
    for n in 0..20 {
        store
            .delete::<Probe>(&id(&format!("f{n:02}")))
            .await
            .expect("delete");
    }
}

async fn hostile_values_match_literally(store: &Store, id: &impl Fn(&str) -> String) {
    let values = [
        "' OR 1=1 --",
        "{\"$gt\": \"\"}",
        "$where",
        "a\"b\\c",
        "\u{0}nul",
        "%_*",
        "юникод",
    ];
    for (i, v) in values.iter().enumerate() {
        store
            .insert(&probe(&id(&format!("h{i}")), "t1", 100 + i as i64, v))
            .await
            .expect("insert");
    }
    for (i, v) in values.iter().enumerate() {
        let found = store
            .find::<Probe>(&Filter::all().eq(Probe::LABEL, *v))
            .await
            .expect("find");
        assert_eq!(found.len(), 1, "{v:?} matches itself only");
        assert_eq!(found[0].n, 100 + i as i64);
    }
    let tenant_like = Filter::all().tenants(vec!["t1' OR '1'='1".into()]);
    assert_eq!(store.count::<Probe>(&tenant_like).await.expect("count"), 0);
    for i in 0..values.len() {
        store
            .delete::<Probe>(&id(&format!("h{i}")))
            .await
            .expect("delete");
    }
}

async fn batches_are_all_or_nothing(store: &Store, id: &impl Fn(&str) -> String) {
    let existing = probe(&id("batch-existing"), "t1", 1, "existing");
    store.insert(&existing).await.expect("insert");
    let mut batch = Batch::new();
    batch
        .insert(&probe(&id("batch-1"), "t1", 2, "new"))
        .insert(&existing);
    assert!(matches!(
        store.commit(batch).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert_eq!(
        store.get::<Probe>(&id("batch-1")).await.expect("get"),
        None,
        "none of a failed batch"
    );

    let mut batch = Batch::new();
    batch
        .insert(&probe(&id("batch-1"), "t1", 2, "new"))
        .insert(&probe(&id("batch-2"), "t2", 3, "new"));
    store.commit(batch).await.expect("commit");
    assert!(
        store
            .get::<Probe>(&id("batch-2"))
            .await
            .expect("get")
            .is_some()
    );

    // An update whose batch fails changes nothing.
    let dup = existing.clone();
    let failed = store
        .update_with::<Probe, (), (), _>(&id("batch-1"), move |p, batch| {
            p.n = 99;
            batch.insert(&dup);
            Ok(())
        })
        .await;
    assert!(
        matches!(failed, Err(StoreError::Duplicate { .. })),
        "{failed:?}"
    );
    assert_eq!(
        store
            .get::<Probe>(&id("batch-1"))
            .await
            .expect("get")
            .expect("exists")
            .n,
        2
    );
    let added = probe(&id("batch-3"), "t1", 4, "added");
    store
        .update_with::<Probe, (), (), _>(&id("batch-1"), move |p, batch| {
            p.n = 5;
            batch.insert(&added);
            Ok(())
        })
        .await
        .expect("update")
        .expect("exists")
        .expect("changed");
    assert_eq!(
        store
            .get::<Probe>(&id("batch-1"))
            .await
            .expect("get")
            .expect("exists")
            .n,
        5
    );
    assert!(
        store
            .get::<Probe>(&id("batch-3"))
            .await
            .expect("get")
            .is_some()
    );
    for n in ["batch-existing", "batch-1", "batch-2", "batch-3"] {
        store.delete::<Probe>(&id(n)).await.expect("delete");
    }
}

async fn unknown_fields_are_refused(store: &Store) {
    // Field constants are made only beside their record type, so a wrong field does
    // not compile; the engines refuse one anyway.
    let bad = Filter::all().eq(Field::<Probe>::undeclared("tenant_secret"), "x");
    assert!(matches!(
        store.find::<Probe>(&bad).await,
        Err(StoreError::UnknownField {
            field: "tenant_secret",
            ..
        })
    ));
    let bad_order = Filter::all().by(Field::<Probe>::undeclared("nope"));
    assert!(matches!(
        store.count::<Probe>(&bad_order).await,
        Err(StoreError::UnknownField { .. })
    ));
}
