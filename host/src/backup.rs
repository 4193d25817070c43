//! `fieldline backup` and `fieldline restore`: every store of a state directory (the SQLite
//! databases and the key-value stores, all SQLite files) in one tar file, taken while the host
//! runs.
//!
//! Each store is copied with SQLite's `VACUUM INTO`, which reads the whole database inside one
//! read transaction: the copy holds exactly the commits made before it began, whatever is
//! written meanwhile (in WAL mode a reader never blocks the writer nor waits for it). Not the
//! stepped backup API: under continuous writes from another connection it restarts at every
//! step and may never finish. A write the host acknowledged has been committed (group commit
//! answers only after the commit), so everything acknowledged before a store's copy began is in
//! the backup.
//!
//! The archive opens with `fieldline-backup.json` (what it holds), then one file per store.
//! Not included: the MQTT client id (a restored host is a new MQTT client, so that it never takes
//! over the session of a host still running) and staged component files (made again at start).

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The first entry of every backup archive.
const MANIFEST: &str = "fieldline-backup.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct BackupManifest {
    /// `fieldline <version>` that took it.
    pub host: String,
    /// Seconds since the Unix epoch when the first store's copy began.
    pub started_at: u64,
    pub stores: Vec<StoreEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StoreEntry {
    /// The file name in the state directory (`sqlite_db.db`, `sqlite_key_value.db`).
    pub file: String,
    pub bytes: u64,
    /// The store's `PRAGMA user_version` (the application's schema version).
    pub user_version: i64,
}

/// What a backup or a restore did, for the summary line.
#[derive(Debug)]
pub struct Summary {
    pub stores: usize,
    pub bytes: u64,
    pub seconds: f64,
}

fn is_sqlite(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && &header == b"SQLite format 3\0"
}

/// The stores of a state directory: its SQLite files (not their `-wal` and `-shm` companions).
pub fn stores(state_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(state_dir)
        .with_context(|| format!("cannot read the state directory {}", state_dir.display()))?;
    for e in entries {
        let path = e?.path();
        if path.is_file() && is_sqlite(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn progress(len: u64, what: &str) -> ProgressBar {
    // indicatif draws only on a terminal; elsewhere the bar is hidden and the summary is all.
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:30}] {bytes}/{total_bytes} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Copies every store of `state_dir` into the tar file `to` (written beside it, then renamed,
/// so that `to` is never a partial archive).
pub fn backup(state_dir: &Path, to: &Path) -> Result<Summary> {
    let started = Instant::now();
    let stores = stores(state_dir)?;
    if stores.is_empty() {
        bail!(
            "{} holds no store (no SQLite file): is it the state directory `fieldline up` uses (--state-dir)?",
            state_dir.display()
        );
    }
    let work = tempfile::Builder::new()
        .prefix(".fieldline-backup")
        .tempdir_in(
            to.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .with_context(|| format!("cannot write beside {}", to.display()))?;
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let total: u64 = stores
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let bar = progress(total, "copying");
    let mut entries = Vec::new();
    for path in &stores {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow!("{}: no file name", path.display()))?;
        bar.set_message(format!("copying {file}"));
        let copy = work.path().join(&file);
        let conn = rusqlite::Connection::open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()])
            .with_context(|| format!("cannot copy {} (VACUUM INTO)", path.display()))?;
        let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let bytes = std::fs::metadata(&copy)?.len();
        bar.inc(std::fs::metadata(path).map_or(0, |m| m.len()));
        entries.push(StoreEntry {
            file,
            bytes,
            user_version,
        });
    }
    bar.finish_and_clear();
    let manifest = BackupManifest {
        host: format!("fieldline {}", env!("CARGO_PKG_VERSION")),
        started_at,
        stores: entries,
    };
    let bytes: u64 = manifest.stores.iter().map(|s| s.bytes).sum();
    let partial = work.path().join(".archive");
    let out = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let synced = out.try_clone()?;
    let bar = progress(bytes, "packing");
    let mut tar = tar::Builder::new(std::io::BufWriter::new(bar.wrap_write(out)));
    let json = serde_json::to_vec_pretty(&manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(started_at);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, &json[..])?;
    for s in &manifest.stores {
        tar.append_path_with_name(work.path().join(&s.file), &s.file)?;
    }
    let out = tar.into_inner()?;
    bar.finish_and_clear();
    out.into_inner()
        .map_err(|e| anyhow!("cannot write {}: {}", to.display(), e.error()))?;
    synced.sync_all()?;
    std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
    Ok(Summary {
        stores: manifest.stores.len(),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Unpacks a backup into `state_dir`, which must be empty or not exist yet; checks each store.
pub fn restore(from: &Path, state_dir: &Path) -> Result<Summary> {
    let started = Instant::now();
    if state_dir.exists() {
        let mut entries = std::fs::read_dir(state_dir)
            .with_context(|| format!("cannot read {}", state_dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: restore into an empty or new directory, then point `fieldline up --state-dir` at it",
                state_dir.display()
            );
        }
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let file =
        std::fs::File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let len = file.metadata()?.len();
    let bar = progress(len, "restoring");
    let mut archive = tar::Archive::new(bar.wrap_read(std::io::BufReader::new(file)));
    let mut manifest: Option<BackupManifest> = None;
    let mut restored = Vec::new();
    let not_a_backup = || {
        anyhow!(
            "{} is not a backup made by `fieldline backup` (it does not start with {MANIFEST})",
            from.display()
        )
    };
    for entry in archive
        .entries()
        .with_context(|| format!("cannot read {}", from.display()))?
    {
        let mut entry = entry.with_context(|| format!("{} is damaged", from.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name == MANIFEST {
            manifest = Some(serde_json::from_reader(&mut entry).map_err(|_| not_a_backup())?);
            continue;
        }
        let Some(m) = &manifest else {
            return Err(not_a_backup());
        };
        // Only the files the manifest lists, by plain name: nothing lands outside the directory.
        if name.contains('/') || !m.stores.iter().any(|s| s.file == name) {
            bail!("{}: unexpected entry {name:?}", from.display());
        }
        let target = state_dir.join(&name);
        entry
            .unpack(&target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        restored.push(target);
    }
    bar.finish_and_clear();
    let manifest = manifest.ok_or_else(not_a_backup)?;
    if restored.len() != manifest.stores.len() {
        bail!(
            "{} is incomplete: {} of {} stores",
            from.display(),
            restored.len(),
            manifest.stores.len()
        );
    }
    for path in &restored {
        let conn = rusqlite::Connection::open(path)?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            bail!("{} failed SQLite's quick_check: {check}", path.display());
        }
    }
    Ok(Summary {
        stores: restored.len(),
        bytes: manifest.stores.iter().map(|s| s.bytes).sum(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(path: &Path, rows: i64) {
        let c = rusqlite::Connection::open(path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.execute_batch("CREATE TABLE t (n INTEGER); PRAGMA user_version = 7;")
            .unwrap();
        for n in 0..rows {
            c.execute("INSERT INTO t VALUES (?1)", [n]).unwrap();
        }
    }

    #[test]
    fn a_backup_restores_every_store_and_refuses_a_used_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        store(&state.join("sqlite_db.db"), 100);
        store(&state.join("sqlite_key_value.db"), 3);
        std::fs::write(state.join("mqtt-client-id"), "x").unwrap();
        let file = dir.path().join("b.tar");
        let s = backup(&state, &file).unwrap();
        assert_eq!(s.stores, 2);

        let again = dir.path().join("again");
        let r = restore(&file, &again).unwrap();
        assert_eq!(r.stores, 2);
        let c = rusqlite::Connection::open(again.join("sqlite_db.db")).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!((n, v), (100, 7));
        assert!(!again.join("mqtt-client-id").exists());

        let err = restore(&file, &again).unwrap_err().to_string();
        assert!(err.contains("is not empty"), "{err}");
        let junk = dir.path().join("junk.tar");
        std::fs::write(&junk, vec![0u8; 2048]).unwrap();
        let err = restore(&junk, &dir.path().join("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a backup"), "{err}");
    }
}
