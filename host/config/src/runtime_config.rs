//! The runtime-config file (`--runtime-config-file`, Spin's format): the state directory and where
//! the key-value stores and SQLite databases live. Without one, `default` of each is a file under
//! the state directory.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum KvConfig {
    /// Spin's SQLite-backed store file.
    Spin {
        path: PathBuf,
    },
    Redis {
        url: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqliteConfig {
    pub path: PathBuf,
}

/// The file's `state_dir`.
#[derive(Debug, Clone, PartialEq)]
pub enum StateDir {
    /// A directory, made absolute against the working directory as Spin does.
    Path(PathBuf),
    /// `state_dir = ""`: to Spin, no state directory at all (default stores in memory).
    Unset,
}

#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// The file, for messages.
    pub file: Option<String>,
    pub state_dir: Option<StateDir>,
    pub key_value_stores: BTreeMap<String, KvConfig>,
    pub sqlite_databases: BTreeMap<String, SqliteConfig>,
}

fn string(t: &mut Table, key: &str, ctx: &str) -> Result<Option<String>> {
    match t.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => bail!("{ctx}: `{key}` must be a string"),
    }
}

fn no_leftovers(t: &Table, ctx: &str) -> Result<()> {
    match t.keys().next() {
        Some(k) => bail!("{ctx}: unused runtime config key `{k}`"),
        None => Ok(()),
    }
}

impl RuntimeConfig {
    /// Reads the file; relative key-value paths are resolved against its folder and relative
    /// SQLite paths against the working directory, as Spin does.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the runtime config file {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let cwd = std::env::current_dir()?;
        Self::parse(&text, &path.display().to_string(), &dir, &cwd)
    }

    pub fn parse(text: &str, name: &str, config_dir: &Path, cwd: &Path) -> Result<Self> {
        let mut root: Table = text
            .parse()
            .map_err(|e| anyhow!("{name}: not valid TOML: {e}"))?;
        let mut config = RuntimeConfig {
            file: Some(name.to_string()),
            state_dir: string(&mut root, "state_dir", name)?.map(|s| {
                if s.is_empty() {
                    StateDir::Unset
                } else {
                    StateDir::Path(cwd.join(s))
                }
            }),
            ..Default::default()
        };
        // Logs go to the terminal; accept Spin's key so a shared file works.
        string(&mut root, "log_dir", name)?;
        if let Some(Value::Table(stores)) = root.remove("key_value_store") {
            for (label, v) in stores {
                let ctx = format!("{name}: [key_value_store.{label}]");
                let Value::Table(mut t) = v else {
                    bail!("{ctx} must be a table")
                };
                let kind = string(&mut t, "type", &ctx)?
                    .ok_or_else(|| anyhow!("{ctx}: missing `type`"))?;
                let store = match kind.as_str() {
                    "spin" => {
                        let path = string(&mut t, "path", &ctx)?
                            .ok_or_else(|| anyhow!("{ctx}: `path` is required by this host (in-memory stores are not supported)"))?;
                        KvConfig::Spin { path: config_dir.join(path) }
                    }
                    "redis" => KvConfig::Redis {
                        url: string(&mut t, "url", &ctx)?.ok_or_else(|| anyhow!("{ctx}: missing `url`"))?,
                    },
                    other => bail!("{ctx}: the store type '{other}' is not supported by this host (supported: spin, redis)"),
                };
                no_leftovers(&t, &ctx)?;
                config.key_value_stores.insert(label, store);
            }
        }
        if let Some(Value::Table(dbs)) = root.remove("sqlite_database") {
            for (label, v) in dbs {
                let ctx = format!("{name}: [sqlite_database.{label}]");
                let Value::Table(mut t) = v else {
                    bail!("{ctx} must be a table")
                };
                let kind = string(&mut t, "type", &ctx)?
                    .ok_or_else(|| anyhow!("{ctx}: missing `type`"))?;
                if kind != "spin" {
                    bail!("{ctx}: database kind '{kind}' is not supported by this host (supported: spin)");
                }
                let path = string(&mut t, "path", &ctx)?
                    .ok_or_else(|| anyhow!("{ctx}: `path` is required by this host (in-memory databases are not supported)"))?;
                no_leftovers(&t, &ctx)?;
                config.sqlite_databases.insert(
                    label,
                    SqliteConfig {
                        path: cwd.join(path),
                    },
                );
            }
        }
        no_leftovers(&root, name)?;
        Ok(config)
    }

    /// The state directory as Spin chooses it: `--state-dir` if given, else the file's `state_dir`,
    /// else `default` (`.spin` beside the manifest).
    pub fn state_dir(&self, from_cli: Option<&Path>, default: &Path) -> Result<PathBuf> {
        if let Some(dir) = from_cli {
            return Ok(dir.to_path_buf());
        }
        match &self.state_dir {
            None => Ok(default.to_path_buf()),
            Some(StateDir::Path(dir)) => Ok(dir.clone()),
            Some(StateDir::Unset) => bail!(
                "{}: `state_dir = \"\"` asks for no state directory, in which Spin keeps the default key-value store and SQLite database in memory; this host has no in-memory stores. Remove `state_dir` (default: .spin beside spin.toml), name a directory, or pass --state-dir",
                self.file.as_deref().unwrap_or("the runtime config")
            ),
        }
    }

    /// The stores after defaults: `default` lives under the state directory unless configured.
    pub fn with_defaults(mut self, state_dir: &Path) -> Self {
        self.key_value_stores
            .entry("default".into())
            .or_insert_with(|| KvConfig::Spin {
                path: state_dir.join("sqlite_key_value.db"),
            });
        self.sqlite_databases
            .entry("default".into())
            .or_insert_with(|| SqliteConfig {
                path: state_dir.join("sqlite_db.db"),
            });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spin_format_and_resolves_paths_as_spin() {
        let text = r#"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379"
[key_value_store.cache]
type = "spin"
path = "cache.db"
[sqlite_database.default]
type = "spin"
path = "data/app.db"
"#;
        let c = RuntimeConfig::parse(text, "rc.toml", Path::new("/etc/app"), Path::new("/work"))
            .expect("valid")
            .with_defaults(Path::new("/state"));
        assert_eq!(
            c.key_value_stores["default"],
            KvConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(
            c.key_value_stores["cache"],
            KvConfig::Spin {
                path: "/etc/app/cache.db".into()
            }
        );
        assert_eq!(
            c.sqlite_databases["default"].path,
            PathBuf::from("/work/data/app.db")
        );
    }

    #[test]
    fn defaults_live_in_the_state_dir() {
        let c = RuntimeConfig::default().with_defaults(Path::new("/s"));
        assert_eq!(
            c.key_value_stores["default"],
            KvConfig::Spin {
                path: "/s/sqlite_key_value.db".into()
            }
        );
        assert_eq!(
            c.sqlite_databases["default"].path,
            PathBuf::from("/s/sqlite_db.db")
        );
    }

    #[test]
    fn unknown_types_and_keys_are_refused() {
        for text in [
            "[key_value_store.x]\ntype = \"azure_cosmos\"\n",
            "[sqlite_database.x]\ntype = \"libsql\"\nurl = \"https://x\"\n",
            "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://x\"\nextra = \"1\"\n",
            "bogus = 1\n",
        ] {
            assert!(
                RuntimeConfig::parse(text, "rc.toml", Path::new("."), Path::new(".")).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn state_dir_is_chosen_as_spin_chooses_it() {
        let parse = |text: &str| {
            RuntimeConfig::parse(text, "rc.toml", Path::new("/etc/app"), Path::new("/work"))
                .expect("valid")
        };
        let default = Path::new("/app/.spin");
        let cli = Path::new("/cli");
        // Relative to the working directory, not to the file.
        let rc = parse("state_dir = \"state\"\n");
        assert_eq!(
            rc.state_dir(None, default).expect("dir"),
            PathBuf::from("/work/state")
        );
        assert_eq!(rc.state_dir(Some(cli), default).expect("dir"), cli);
        let rc = parse("state_dir = \"/var/lib/app\"\n");
        assert_eq!(
            rc.state_dir(None, default).expect("dir"),
            PathBuf::from("/var/lib/app")
        );
        assert_eq!(parse("").state_dir(None, default).expect("dir"), default);
        let rc = parse("state_dir = \"\"\n");
        let err = rc
            .state_dir(None, default)
            .expect_err("no in-memory stores");
        assert!(err.to_string().contains("rc.toml"), "{err}");
        assert!(err.to_string().contains("state_dir"), "{err}");
        // --state-dir wins over the file, as in Spin, so the empty value does not matter then.
        assert_eq!(rc.state_dir(Some(cli), default).expect("dir"), cli);
    }
}
