//! What every file store must do, as one suite the tests run against each
//! (`tests/file_stores_keep_one_contract.rs`). Panics on the first difference.

use std::time::Duration;

use futures_util::StreamExt;

use super::{FileStore, Range, StoreError};

async fn read_all(store: &FileStore, key: &str, range: Option<Range>) -> (u64, u64, u64, Vec<u8>) {
    let mut object = store.open(key, range).await.expect("open");
    let mut out = Vec::new();
    while let Some(chunk) = object.body.next().await {
        out.extend_from_slice(&chunk.expect("read"));
    }
    (object.size, object.start, object.end, out)
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Runs every check; `dir` is a scratch folder for source files, `prefix` keeps keys of
/// repeated runs apart.
pub async fn run(store: &FileStore, dir: &std::path::Path, prefix: &str) {
    let key = |k: &str| format!("{prefix}{k}");

    // Small and multipart-sized objects round-trip byte for byte.
    for (name, size) in [
        ("small.webm", 1000usize),
        ("empty.bin", 0),
        ("big.webm", 20 * 1024 * 1024 + 123),
    ] {
        let data = pattern(size, size as u8);
        let src = dir.join(name);
        std::fs::write(&src, &data).expect("write source");
        let k = key(&format!("recordings/t1/{name}"));
        assert_eq!(
            store.put_file(&k, &src, "video/webm").await.expect("put"),
            size as u64
        );
        assert_eq!(store.size(&k).await.expect("size"), Some(size as u64));
        let (total, _, _, got) = read_all(store, &k, None).await;
        assert_eq!(total, size as u64);
        assert!(got == data, "{name}: {} bytes back of {size}", got.len());
    }

    // Objects made in memory round-trip too, and replace what was there.
    let k = key("device-logs/t1/panel-1/2026-12-07/1.log");
    for text in ["first version\n", "the second, longer version\n"] {
        let data = text.as_bytes().to_vec();
        assert_eq!(
            store
                .put_bytes(&k, data.clone(), "text/plain; charset=utf-8")
                .await
                .expect("put bytes"),
            data.len() as u64
        );
        let (total, _, _, got) = read_all(store, &k, None).await;
        assert_eq!((total, got), (data.len() as u64, data));
    }
    assert!(
        store
            .put_bytes("../out", vec![1], "text/plain")
            .await
            .is_err()
    );

    // Ranges.
    let k = key("recordings/t1/small.webm");
    let data = pattern(1000, (1000usize) as u8);
    let (size, start, end, got) = read_all(
        store,
        &k,
        Some(Range::From {
            start: 10,
            end: Some(19),
        }),
    )
    .await;
    assert_eq!((size, start, end), (1000, 10, 19));
    assert_eq!(got, data[10..20]);
    let (_, start, end, got) = read_all(
        store,
        &k,
        Some(Range::From {
            start: 990,
            end: None,
        }),
    )
    .await;
    assert_eq!((start, end), (990, 999));
    assert_eq!(got, data[990..]);
    let (_, start, _, got) = read_all(store, &k, Some(Range::Last(5))).await;
    assert_eq!(start, 995);
    assert_eq!(got, data[995..]);
    let (_, _, end, got) = read_all(
        store,
        &k,
        Some(Range::From {
            start: 0,
            end: Some(5000),
        }),
    )
    .await;
    assert_eq!(end, 999, "clipped to the object");
    assert_eq!(got.len(), 1000);
    assert!(matches!(
        store
            .open(
                &k,
                Some(Range::From {
                    start: 1000,
                    end: None
                })
            )
            .await,
        Err(StoreError::Range { size: 1000 })
    ));

    // Replacing, missing objects, deleting.
    let src = dir.join("replacement");
    std::fs::write(&src, b"second version").expect("write");
    store
        .put_file(&k, &src, "video/webm")
        .await
        .expect("replace");
    assert_eq!(read_all(store, &k, None).await.3, b"second version");
    let missing = key("recordings/t1/none.webm");
    assert_eq!(store.size(&missing).await.expect("size"), None);
    assert!(matches!(
        store.open(&missing, None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.delete(&k).await.expect("delete"));
    assert!(!store.delete(&k).await.expect("delete twice"));
    assert_eq!(store.size(&k).await.expect("size"), None);

    // Keys the server would never make are refused before any I/O.
    for bad in ["../escape", "/etc/passwd", "a/../../b", "a\\b", "a//b", ""] {
        assert!(
            matches!(
                store.put_file(bad, &src, "x/y").await,
                Err(StoreError::BadKey(_))
            ),
            "{bad}"
        );
        assert!(
            matches!(store.open(bad, None).await, Err(StoreError::BadKey(_))),
            "{bad}"
        );
        assert!(
            matches!(store.delete(bad).await, Err(StoreError::BadKey(_))),
            "{bad}"
        );
    }

    // Presigned URLs: only where the store can make them.
    let big = key("recordings/t1/big.webm");
    match store {
        FileStore::Local(_) => {
            assert_eq!(
                store
                    .presigned_url(&big, Duration::from_secs(60), "call.webm")
                    .await
                    .expect("presign"),
                None
            );
        }
        FileStore::S3(_) => {
            let url = store
                .presigned_url(&big, Duration::from_secs(60), "call.webm")
                .await
                .expect("presign")
                .expect("S3 presigns");
            assert!(
                url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=60"),
                "{url}"
            );
        }
    }
    store.delete(&big).await.expect("delete");
    store
        .delete(&key("recordings/t1/empty.bin"))
        .await
        .expect("delete");
}
