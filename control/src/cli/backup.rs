//! `vchat backup` and `vchat restore`: a consistent copy of a data folder, taken while
//! the server runs, and its return into an empty folder.
//!
//! The store is copied first, by SQLite's online backup in one step (one read
//! transaction: the copy is the store as of one instant, whatever the server writes
//! meanwhile); then the files (chat files, screenshots, recordings, certificates,
//! secrets). Files land before the records that name them, so every file the copied
//! store names is there. `manifest.json`, written last, lists each file's size and
//! SHA-256, the record counts and the schema version; a folder without it is not a
//! backup. Restore checks all of it before it writes anything, and refuses a store
//! newer than this vchat.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::config::{Config, StoreEngine};
use crate::store::embedded::{FILE_NAME, SCHEMA_VERSION};

/// What a backup holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The vchat that wrote it.
    pub vchat: String,
    /// The store's schema version.
    pub schema_version: usize,
    /// When it was taken (Unix ms).
    pub created_at: i64,
    /// Records per collection.
    pub records: BTreeMap<String, u64>,
    /// The store's size in bytes.
    pub store_bytes: u64,
    /// Every file but the store, by its path in the data folder.
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path in the data folder (`/`-separated).
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// What is never copied: the store itself (copied apart), its journal, the server's
/// heartbeat, files still being written, and calls' raw captures (merged after the
/// call; a capture of a call in progress is half a recording).
fn skipped(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    rel == FILE_NAME
        || rel == format!("{FILE_NAME}-wal")
        || rel == format!("{FILE_NAME}-shm")
        || rel == "alive"
        || name.ends_with(".partial")
        || rel.starts_with("recordings/capture/")
        || rel.starts_with("recordings/tmp/")
}

/// `vchat backup`: copies `config`'s data folder into `to` (new or empty).
pub fn backup(config: &Config, to: &Path) -> anyhow::Result<()> {
    if config.store.engine != StoreEngine::Embedded {
        bail!(
            "the store is MongoDB: back it up with mongodump (or the replica set's own \
             backups); this command copies the embedded store"
        );
    }
    let data = &config.data_dir;
    let db = data.join(FILE_NAME);
    if !db.exists() {
        bail!(
            "{} has no store ({FILE_NAME}): is --data the server's data folder?",
            data.display()
        );
    }
    empty_or_new(to)?;
    std::fs::create_dir_all(to.join("files"))
        .with_context(|| format!("cannot create {}", to.display()))?;

    // 1. The store, as of one instant.
    let started = std::time::Instant::now();
    let source = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", db.display()))?;
    source.busy_timeout(std::time::Duration::from_secs(30))?;
    let copy = to.join(FILE_NAME);
    let mut target = Connection::open(&copy)?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut target)?;
        // All pages in one step: one read transaction, so writes the server makes
        // meanwhile neither restart the copy nor tear it.
        backup.step(-1).context("the store could not be copied")?;
    }
    drop(source);
    let (schema_version, records) = describe(&target)?;
    target.pragma_update(None, "journal_mode", "DELETE")?;
    drop(target);
    let store_bytes = std::fs::metadata(&copy)?.len();
    let total: u64 = records.values().sum();
    eprintln!(
        "store: {total} records in {} collections, schema {schema_version}, {} copied in {} ms",
        records.len(),
        human(store_bytes),
        started.elapsed().as_millis()
    );

    // 2. The files.
    let mut list = Vec::new();
    walk(data, data, &mut list)?;
    list.retain(|(rel, _)| !skipped(rel));
    let bytes: u64 = list.iter().map(|(_, size)| size).sum();
    let mut progress = Progress::new("files", list.len(), bytes);
    let mut files = Vec::with_capacity(list.len());
    for (rel, _) in &list {
        let from = data.join(rel);
        let into = to.join("files").join(rel);
        match copy_hashing(&from, &into) {
            Ok((size, sha256)) => {
                progress.advance(size);
                files.push(FileEntry {
                    path: rel.clone(),
                    size,
                    sha256,
                });
            }
            // Deleted since the listing (retention, a cancelled upload): the copied
            // store was taken before, so nothing it names is lost.
            Err(e) if from.exists() => return Err(e),
            Err(_) => progress.advance(0),
        }
    }
    progress.done();

    // 3. The manifest: a backup is complete once it is there.
    let manifest = Manifest {
        vchat: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        records,
        store_bytes,
        files,
    };
    write_whole(
        &to.join("manifest.json"),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    eprintln!(
        "backup complete: {} ({} files, {}); it holds the server's secrets and keys: keep it private",
        to.display(),
        manifest.files.len(),
        human(bytes + store_bytes)
    );
    Ok(())
}

/// `vchat restore`: puts the backup in `from` into the data folder `data` (new or
/// empty), after checking every file against the manifest.
pub fn restore(from: &Path, data: &Path) -> anyhow::Result<()> {
    let manifest_path = from.join("manifest.json");
    let bytes = std::fs::read(&manifest_path).with_context(|| {
        format!(
            "{} is not a complete vchat backup (no manifest.json: the backup did not finish)",
            from.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a vchat backup manifest", manifest_path.display()))?;
    if manifest.schema_version > SCHEMA_VERSION {
        bail!(
            "the backup's store is at schema version {}, newer than this vchat knows ({SCHEMA_VERSION}); \
             restore it with vchat {} or newer",
            manifest.schema_version,
            manifest.vchat
        );
    }
    empty_or_new(data)?;

    // Everything is checked before anything is written.
    let db = from.join(FILE_NAME);
    {
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", db.display()))?;
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if ok != "ok" {
            bail!("the backup's store is damaged: {ok}");
        }
        let (version, records) = describe(&conn)?;
        if version != manifest.schema_version || records != manifest.records {
            bail!(
                "the backup's store does not match its manifest (schema {version}, records {records:?})"
            );
        }
    }
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    let mut progress = Progress::new("checking", manifest.files.len(), bytes);
    for f in &manifest.files {
        let path = inside(from, &f.path)?;
        let (size, sha256) =
            hash(&path).with_context(|| format!("{} is missing from the backup", f.path))?;
        if size != f.size || sha256 != f.sha256 {
            bail!(
                "{} in the backup is not the file that was backed up (size or SHA-256 differs)",
                f.path
            );
        }
        progress.advance(size);
    }
    progress.done();

    let mut progress = Progress::new("restoring", manifest.files.len(), bytes);
    for f in &manifest.files {
        let (size, _) = copy_hashing(&inside(from, &f.path)?, &data.join(&f.path))?;
        progress.advance(size);
    }
    progress.done();
    // The store last: a folder with it is a whole one.
    let partial = data.join(format!("{FILE_NAME}.partial"));
    std::fs::copy(&db, &partial)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, data.join(FILE_NAME))?;
    let total: u64 = manifest.records.values().sum();
    eprintln!(
        "restored into {}: {total} records, {} files; start the server with --data {}",
        data.display(),
        manifest.files.len(),
        data.display()
    );
    Ok(())
}

/// The store's schema version and its records per collection.
fn describe(conn: &Connection) -> anyhow::Result<(usize, BTreeMap<String, u64>)> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let mut stmt =
        conn.prepare("SELECT coll, count(*) FROM records GROUP BY coll ORDER BY coll")?;
    let records = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    Ok((usize::try_from(version).unwrap_or(0), records))
}

fn empty_or_new(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => bail!(
            "{} is not empty: give a new or empty folder (nothing is overwritten)",
            dir.display()
        ),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(std::fs::create_dir_all(dir)?),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// `rel` under `root`, refusing paths that climb out (a tampered manifest).
fn inside(root: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    if rel
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
        || rel.starts_with('/')
    {
        bail!("the manifest names {rel:?}, which is not a path inside a backup");
    }
    Ok(root.join("files").join(rel))
}

/// Every regular file under `dir`, as (path relative to `root`, size).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, entry.metadata()?.len()));
        }
    }
    Ok(())
}

fn hash(path: &Path) -> anyhow::Result<(u64, String)> {
    copy_hashing_into(path, None)
}

/// Copies `from` to `to` (made whole, readable by this user only), returning its size
/// and SHA-256.
fn copy_hashing(from: &Path, to: &Path) -> anyhow::Result<(u64, String)> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let partial = to.with_file_name(format!(
        "{}.partial",
        to.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    let got = copy_hashing_into(from, Some(&mut out))?;
    out.sync_all()?;
    std::fs::rename(&partial, to)?;
    Ok(got)
}

fn copy_hashing_into(
    from: &Path,
    mut out: Option<&mut std::fs::File>,
) -> anyhow::Result<(u64, String)> {
    let mut file =
        std::fs::File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
        if let Some(out) = out.as_mut() {
            out.write_all(&buf[..n])?;
        }
        size += n as u64;
    }
    let sha = digest
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((size, sha))
}

fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    let mut f = std::fs::File::create(&partial)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// A progress line on stderr every tenth of the bytes (and at the end).
struct Progress {
    what: &'static str,
    files: usize,
    bytes: u64,
    done_files: usize,
    done_bytes: u64,
    shown: u64,
}

impl Progress {
    fn new(what: &'static str, files: usize, bytes: u64) -> Progress {
        Progress {
            what,
            files,
            bytes,
            done_files: 0,
            done_bytes: 0,
            shown: 0,
        }
    }

    fn advance(&mut self, bytes: u64) {
        self.done_files += 1;
        self.done_bytes += bytes;
        let tenth = (self.done_bytes * 10).checked_div(self.bytes).unwrap_or(10);
        if tenth > self.shown && self.done_files < self.files {
            self.shown = tenth;
            eprintln!(
                "{}: {}% ({}/{} files, {} of {})",
                self.what,
                tenth * 10,
                self.done_files,
                self.files,
                human(self.done_bytes),
                human(self.bytes)
            );
        }
    }

    fn done(&self) {
        eprintln!(
            "{}: 100% ({} files, {})",
            self.what,
            self.done_files,
            human(self.done_bytes)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_its_journal_and_work_in_progress_are_not_copied_as_files() {
        for rel in [
            "vchat.db",
            "vchat.db-wal",
            "vchat.db-shm",
            "alive",
            "files/x/y.partial",
            "recordings/capture/r/a.vcrec",
            "recordings/tmp/m.webm",
        ] {
            assert!(skipped(rel), "{rel}");
        }
        for rel in [
            "secret",
            "api-token",
            "files/root/ab/cd",
            "recordings/files/root/x.webm",
            "tls/acme/account.json",
        ] {
            assert!(!skipped(rel), "{rel}");
        }
    }

    #[test]
    fn manifest_paths_stay_inside_the_backup() {
        let root = Path::new("/b");
        assert!(inside(root, "files/a").is_ok());
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../x", "a//b", "./a"] {
            assert!(inside(root, bad).is_err(), "{bad}");
        }
    }
}
