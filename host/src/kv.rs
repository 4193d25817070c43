//! `fermyon:spin/key-value@2.0.0`: stores by label, each backed by a SQLite file (Spin's default
//! layout) or Redis, open only to the components that list the label in `key_value_stores`.

use crate::bindings::key_value::{self, Error};
use crate::bindings::View;
use crate::db::{Database, Session, SqlValue};
use crate::manifest::Manifest;
use crate::runtime_config::{KvConfig, RuntimeConfig};
use anyhow::{bail, Result};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::Resource;

/// Where one store's data lives.
#[derive(Clone)]
pub enum Backend {
    /// A table `spin_key_value(store, key, value)` in a SQLite file, as Spin lays it out.
    Sqlite(Database),
    Redis(redis::aio::ConnectionManager),
}

impl Backend {
    /// Opens a SQLite-backed store file, creating Spin's table if needed.
    pub async fn sqlite(db: Database) -> Result<Self> {
        let mut s = db.session();
        s.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))".into(),
            vec![],
        )
        .await?;
        Ok(Backend::Sqlite(db))
    }

    pub async fn redis(url: &str) -> Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid Redis url `{url}`: {e}"))?;
        let manager = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to Redis at `{url}`: {e}"))?;
        Ok(Backend::Redis(manager))
    }
}

/// Every store some component uses, opened once at start-up and shared by all instances.
pub struct KvStores {
    backends: HashMap<String, Backend>,
    /// The SQLite files behind `backends`: one [`Database`] per file, however many labels share it.
    files: HashMap<PathBuf, Database>,
}

impl KvStores {
    /// Opens only the stores some component lists, and refuses labels the runtime config does not
    /// define, as Spin does.
    pub async fn open(manifest: &Manifest, runtime: &RuntimeConfig) -> Result<Self> {
        let file = manifest.file.display();
        let mut backends = HashMap::new();
        let mut files: HashMap<PathBuf, Database> = HashMap::new();
        for c in manifest.components.values() {
            for label in &c.key_value_stores {
                if backends.contains_key(label) {
                    continue;
                }
                let backend = match runtime.key_value_stores.get(label) {
                    None => bail!("{file}: unknown key_value_stores label {label:?} for component {:?}: define it in a runtime config file ([key_value_store.{label}])", c.id),
                    Some(KvConfig::Redis { url }) => Backend::redis(url).await?,
                    Some(KvConfig::Spin { path }) => {
                        let db = match files.get(path) {
                            Some(db) => db.clone(),
                            None => {
                                let db = Database::open(path)?;
                                files.insert(path.clone(), db.clone());
                                db
                            }
                        };
                        Backend::sqlite(db).await?
                    }
                };
                backends.insert(label.clone(), backend);
            }
        }
        Ok(KvStores { backends, files })
    }

    /// The state of a component that lists `labels` in `key_value_stores`.
    pub fn state_for(&self, labels: &[String]) -> KvState {
        KvState {
            allowed: Arc::new(
                labels
                    .iter()
                    .filter_map(|l| self.backends.get(l).map(|b| (l.clone(), b.clone())))
                    .collect(),
            ),
            clock: Default::default(),
        }
    }

    /// The SQLite files, for shutdown.
    pub fn into_databases(self) -> impl Iterator<Item = Database> {
        self.files.into_values()
    }
}

/// The guest's open store.
pub struct StoreHandle {
    label: String,
    backend: StoreBackend,
}

enum StoreBackend {
    Sqlite(Session),
    Redis(redis::aio::ConnectionManager),
}

/// Per-instance key-value state: the stores this component may open.
#[derive(Clone, Default)]
pub struct KvState {
    pub allowed: Arc<HashMap<String, Backend>>,
    /// The instance's database time, for its trace span.
    pub clock: crate::telemetry::DbClock,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

impl StoreHandle {
    async fn sql(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<Vec<SqlValue>>, Error> {
        match &mut self.backend {
            StoreBackend::Sqlite(s) => s
                .execute(sql.to_string(), params)
                .await
                .map(|r| r.rows)
                .map_err(other),
            StoreBackend::Redis(_) => Err(other("not a SQLite store")),
        }
    }

    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        if let StoreBackend::Redis(r) = &mut self.backend {
            return r.get(key).await.map_err(other);
        }
        let label = SqlValue::Text(self.label.clone());
        let rows = self
            .sql(
                "SELECT value FROM spin_key_value WHERE store = ? AND key = ?",
                vec![label, SqlValue::Text(key)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| match r.into_iter().next() {
                Some(SqlValue::Blob(b)) => Some(b),
                Some(SqlValue::Text(t)) => Some(t.into_bytes()),
                _ => None,
            }))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), Error> {
        if let StoreBackend::Redis(r) = &mut self.backend {
            return r.set(key, value).await.map_err(other);
        }
        let label = SqlValue::Text(self.label.clone());
        self.sql(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?, ?, ?) ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            vec![label, SqlValue::Text(key), SqlValue::Blob(value)],
        )
        .await
        .map(drop)
    }

    async fn delete(&mut self, key: String) -> Result<(), Error> {
        if let StoreBackend::Redis(r) = &mut self.backend {
            return r.del(key).await.map_err(other);
        }
        let label = SqlValue::Text(self.label.clone());
        self.sql(
            "DELETE FROM spin_key_value WHERE store = ? AND key = ?",
            vec![label, SqlValue::Text(key)],
        )
        .await
        .map(drop)
    }

    async fn exists(&mut self, key: String) -> Result<bool, Error> {
        if let StoreBackend::Redis(r) = &mut self.backend {
            return r.exists(key).await.map_err(other);
        }
        let label = SqlValue::Text(self.label.clone());
        let rows = self
            .sql(
                "SELECT 1 FROM spin_key_value WHERE store = ? AND key = ?",
                vec![label, SqlValue::Text(key)],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn get_keys(&mut self) -> Result<Vec<String>, Error> {
        if let StoreBackend::Redis(r) = &mut self.backend {
            return r.keys("*").await.map_err(other);
        }
        let label = SqlValue::Text(self.label.clone());
        let rows = self
            .sql(
                "SELECT key FROM spin_key_value WHERE store = ?",
                vec![label],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match r.into_iter().next() {
                Some(SqlValue::Text(t)) => Some(t),
                _ => None,
            })
            .collect())
    }
}

type Res<T> = wasmtime::Result<Result<T, Error>>;

impl key_value::Host for View<'_, KvState> {}

impl key_value::HostStore for View<'_, KvState> {
    async fn open(&mut self, label: String) -> Res<Resource<StoreHandle>> {
        let Some(backend) = self.state.allowed.get(&label) else {
            // Spin answers access-denied for any label the component did not declare.
            return Ok(Err(Error::AccessDenied));
        };
        let backend = match backend {
            Backend::Sqlite(db) => StoreBackend::Sqlite(db.session()),
            Backend::Redis(r) => StoreBackend::Redis(r.clone()),
        };
        Ok(Ok(self.table.push(StoreHandle { label, backend })?))
    }

    async fn get(&mut self, store: Resource<StoreHandle>, key: String) -> Res<Option<Vec<u8>>> {
        let clock = &self.state.clock;
        Ok(clock.time(self.table.get_mut(&store)?.get(key)).await)
    }

    async fn set(&mut self, store: Resource<StoreHandle>, key: String, value: Vec<u8>) -> Res<()> {
        let clock = &self.state.clock;
        Ok(clock
            .time(self.table.get_mut(&store)?.set(key, value))
            .await)
    }

    async fn delete(&mut self, store: Resource<StoreHandle>, key: String) -> Res<()> {
        let clock = &self.state.clock;
        Ok(clock.time(self.table.get_mut(&store)?.delete(key)).await)
    }

    async fn exists(&mut self, store: Resource<StoreHandle>, key: String) -> Res<bool> {
        let clock = &self.state.clock;
        Ok(clock.time(self.table.get_mut(&store)?.exists(key)).await)
    }

    async fn get_keys(&mut self, store: Resource<StoreHandle>) -> Res<Vec<String>> {
        let clock = &self.state.clock;
        Ok(clock.time(self.table.get_mut(&store)?.get_keys()).await)
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::key_value::HostStore;
    use wasmtime::component::ResourceTable;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_declared_stores_open_and_labels_sharing_a_file_stay_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open(&dir.path().join("kv.db")).expect("open");
        let backend = Backend::sqlite(db).await.expect("store");
        let state = KvState {
            allowed: Arc::new(HashMap::from([
                ("default".to_string(), backend.clone()),
                ("other".to_string(), backend),
            ])),
            clock: Default::default(),
        };
        let mut table = ResourceTable::new();
        let mut c = View {
            state: &state,
            table: &mut table,
        };
        assert!(matches!(
            c.open("undeclared".into()).await.expect("no trap"),
            Err(Error::AccessDenied)
        ));

        let store = c
            .open("default".into())
            .await
            .expect("no trap")
            .expect("open");
        let k = |s: &str| s.to_string();
        assert_eq!(
            c.get(Resource::new_borrow(store.rep()), k("a"))
                .await
                .expect("no trap")
                .expect("store answers"),
            None
        );
        for (key, value) in [
            ("a", b"1".to_vec()),
            ("b", b"2".to_vec()),
            ("a", b"3".to_vec()),
        ] {
            c.set(Resource::new_borrow(store.rep()), k(key), value)
                .await
                .expect("no trap")
                .expect("set");
        }
        assert_eq!(
            c.get(Resource::new_borrow(store.rep()), k("a"))
                .await
                .expect("no trap")
                .expect("store answers"),
            Some(b"3".to_vec()),
            "a second set replaces the value"
        );
        let mut keys = c
            .get_keys(Resource::new_borrow(store.rep()))
            .await
            .expect("no trap")
            .expect("keys");
        keys.sort();
        assert_eq!(keys, vec!["a", "b"]);
        c.delete(Resource::new_borrow(store.rep()), k("b"))
            .await
            .expect("no trap")
            .expect("delete");
        assert!(!c
            .exists(Resource::new_borrow(store.rep()), k("b"))
            .await
            .expect("no trap")
            .expect("store answers"));

        // Another label in the same file sees none of it.
        let other = c
            .open("other".into())
            .await
            .expect("no trap")
            .expect("open");
        assert!(!c
            .exists(Resource::new_borrow(other.rep()), k("a"))
            .await
            .expect("no trap")
            .expect("store answers"));
        assert_eq!(
            c.get_keys(Resource::new_borrow(other.rep()))
                .await
                .expect("no trap")
                .expect("store answers"),
            Vec::<String>::new()
        );
        HostStore::drop(&mut c, store).await.expect("drop");
        HostStore::drop(&mut c, other).await.expect("drop");
        assert!(c.table.is_empty());
    }
}
