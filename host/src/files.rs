//! A component's `files`, staged under the state directory at start-up and mounted read-only at
//! `/` in each of its instances.

use crate::manifest::FileMount;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Copies a component's `files` into `<state>/files/<component>/`, mounted read-only at `/`.
pub fn stage_files(
    manifest_dir: &Path,
    state_dir: &Path,
    component: &str,
    mounts: &[FileMount],
    exclude: &[String],
) -> Result<Option<PathBuf>> {
    if mounts.is_empty() {
        return Ok(None);
    }
    let root = state_dir.join("files").join(component);
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root)?;
    let excluded: BTreeSet<PathBuf> = exclude
        .iter()
        .map(|p| glob::glob(&manifest_dir.join(p).to_string_lossy()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .collect();
    let copy = |from: &Path, to: &Path| -> Result<()> {
        if excluded.contains(from) {
            return Ok(());
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to).with_context(|| format!("cannot copy {}", from.display()))?;
        Ok(())
    };
    for mount in mounts {
        match mount {
            FileMount::Pattern(pattern) => {
                let full = manifest_dir.join(pattern);
                for entry in glob::glob(&full.to_string_lossy())? {
                    let path = entry?;
                    if path.is_file() {
                        let rel = path.strip_prefix(manifest_dir)?;
                        copy(&path, &root.join(rel))?;
                    }
                }
            }
            FileMount::Placement {
                source,
                destination,
            } => {
                let src = manifest_dir.join(source);
                let dest = root.join(destination.trim_start_matches('/'));
                if src.is_dir() {
                    for entry in walk(&src)? {
                        copy(&entry, &dest.join(entry.strip_prefix(&src)?))?;
                    }
                } else if src.is_file() {
                    copy(&src, &dest)?;
                } else {
                    bail!("{} does not exist", src.display());
                }
            }
        }
    }
    Ok(Some(root))
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}
