//! Secret package archives: deterministic packing and hostile-input-safe reading.
//!
//! Reading never touches the disk: every entry is checked (plain files and folders only, relative
//! paths without `..`, size and entry limits checked from headers before any data is inflated)
//! and held in memory; the caller writes the files only once everything passed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use super::error::SecretsError;

/// Limits for reading a package.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total uncompressed bytes of all files.
    pub max_total_bytes: u64,
    /// Number of entries (files, folders, metadata entries).
    pub max_entries: usize,
}

impl Default for Limits {
    /// 8 MiB and 1000 entries: a package holds a few kustomize overlays of Secrets.
    fn default() -> Self {
        Self {
            max_total_bytes: 8 << 20,
            max_entries: 1000,
        }
    }
}

/// A package read into memory: relative paths (`/`-separated) to contents, and its folders.
#[derive(Debug, Default)]
pub struct Contents {
    /// Files by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Folders by relative path (including parents of files).
    pub dirs: BTreeSet<String>,
}

/// Reads and checks a `.tar.gz` package without writing anything.
pub fn read(package: &Path, limits: Limits) -> Result<Contents, SecretsError> {
    let pkg = package.display().to_string();
    let file = std::fs::File::open(package).map_err(|e| SecretsError::Io {
        path: package.to_path_buf(),
        message: format!("cannot open the package: {e}"),
    })?;
    let unsafe_entry = |entry: &str, why: &str| SecretsError::UnsafeEntry {
        package: pkg.clone(),
        entry: entry.to_string(),
        why: why.to_string(),
    };
    let corrupt = |e: std::io::Error| SecretsError::Corrupt {
        package: pkg.clone(),
        message: e.to_string(),
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Contents::default();
    let mut total = 0u64;
    let mut count = 0usize;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        count += 1;
        if count > limits.max_entries {
            return Err(SecretsError::TooManyEntries {
                package: pkg.clone(),
                limit: limits.max_entries,
            });
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let ty = entry.header().entry_type();
        match ty {
            EntryType::Regular | EntryType::Continuous | EntryType::Directory => {}
            // Global pax headers (e.g. from `git archive`) carry metadata only.
            EntryType::XGlobalHeader => continue,
            EntryType::Symlink | EntryType::Link => {
                return Err(unsafe_entry(
                    &shown,
                    "is a link; packages hold plain files only (links could point outside the target folder)",
                ));
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(unsafe_entry(
                    &shown,
                    "is a device file or fifo; packages hold plain files only",
                ));
            }
            other => {
                return Err(unsafe_entry(
                    &shown,
                    &format!(
                        "has tar entry type {other:?}; packages hold plain files and folders only"
                    ),
                ));
            }
        }
        let path = clean_path(&raw).map_err(|why| unsafe_entry(&shown, why))?;
        let Some(path) = path else { continue };
        let size = entry.size();
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(SecretsError::TooLarge {
                package: pkg.clone(),
                limit: limits.max_total_bytes,
            });
        }
        if ty == EntryType::Directory {
            if out.files.contains_key(&path) {
                return Err(unsafe_entry(&shown, "is both a file and a folder"));
            }
            out.dirs.insert(path);
            continue;
        }
        if out.files.contains_key(&path) || out.dirs.contains(&path) {
            return Err(unsafe_entry(&shown, "appears twice in the package"));
        }
        let mut data = Vec::with_capacity(size.min(1 << 20) as usize);
        (&mut entry)
            .take(size)
            .read_to_end(&mut data)
            .map_err(corrupt)?;
        out.files.insert(path, data);
    }
    // Parents of files are folders; a file may not also be a folder or under a file.
    let parents: Vec<String> = out.files.keys().flat_map(|p| ancestors(p)).collect();
    out.dirs.extend(parents);
    if let Some(clash) = out.dirs.iter().find(|d| out.files.contains_key(*d)) {
        return Err(unsafe_entry(clash, "is both a file and a folder"));
    }
    Ok(out)
}

/// The folders above a relative `/`-separated path.
fn ancestors(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = p;
    while let Some((head, _)) = cur.rsplit_once('/') {
        out.push(head.to_string());
        cur = head;
    }
    out
}

/// Normalises an entry path: `Ok(None)` for the root itself (`./`), an error for absolute paths,
/// `..`, non-UTF-8 names and backslashes.
fn clean_path(raw: &[u8]) -> Result<Option<String>, &'static str> {
    let text = std::str::from_utf8(raw).map_err(|_| "has a name that is not UTF-8")?;
    if text.contains('\\') {
        return Err("has a backslash in its name");
    }
    if text.contains('\0') {
        return Err("has a NUL byte in its name");
    }
    let mut parts = Vec::new();
    for c in Path::new(text).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().ok_or("has a name that is not UTF-8")?),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err("contains `..`: it would be written outside the target folder");
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("is an absolute path: it would be written outside the target folder");
            }
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Writes checked contents into `dir` (which must exist and be empty): files 0600, folders 0700
/// (they hold secret values).
pub fn write(contents: &Contents, dir: &Path) -> Result<(), SecretsError> {
    let io = |path: PathBuf, e: std::io::Error| SecretsError::Io {
        path,
        message: e.to_string(),
    };
    // Extracted packages hold secret values: folders 0700 and files 0600, whatever the umask.
    for d in &contents.dirs {
        let p = dir.join(d);
        create_private_dir_all(&p).map_err(|e| io(p.clone(), e))?;
    }
    for (rel, data) in &contents.files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            create_private_dir_all(parent).map_err(|e| io(parent.to_path_buf(), e))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&p).map_err(|e| io(p.clone(), e))?;
        f.write_all(data).map_err(|e| io(p.clone(), e))?;
    }
    Ok(())
}

/// Creates a folder and its missing parents with mode 0700 (on Unix; the umask cannot widen it).
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Packs a folder into tar.gz bytes, deterministically: sorted entries, mtime `mtime`, uid/gid 0,
/// no user names, modes 0644/0755, gzip header without name or time. Symlinks and special files
/// in the folder are errors.
pub fn pack_dir(dir: &Path, mtime: u64) -> Result<Vec<u8>, SecretsError> {
    let mut entries: Vec<(String, Option<PathBuf>)> = Vec::new();
    collect(dir, dir, &mut entries)?;
    entries.sort();
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    let io = |path: &Path, e: std::io::Error| SecretsError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    for (rel, file) in &entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        match file {
            Some(path) => {
                let data = std::fs::read(path).map_err(|e| io(path, e))?;
                h.set_entry_type(EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                builder
                    .append_data(&mut h, rel, data.as_slice())
                    .map_err(|e| io(dir, e))?;
            }
            None => {
                h.set_entry_type(EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                builder
                    .append_data(&mut h, format!("{rel}/"), std::io::empty())
                    .map_err(|e| io(dir, e))?;
            }
        }
    }
    let gz = builder.into_inner().map_err(|e| io(dir, e))?;
    gz.finish().map_err(|e| io(dir, e))
}

fn collect(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, Option<PathBuf>)>,
) -> Result<(), SecretsError> {
    let io = |e: std::io::Error| SecretsError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("walked under root")
            .to_str()
            .ok_or_else(|| SecretsError::Io {
                path: path.clone(),
                message: "file names in a package must be UTF-8".into(),
            })?
            .replace(std::path::MAIN_SEPARATOR, "/");
        let ty = entry.file_type().map_err(io)?;
        if ty.is_symlink() {
            return Err(SecretsError::Io {
                path,
                message: "is a symlink; packages hold plain files only (copy the file instead)"
                    .into(),
            });
        } else if ty.is_dir() {
            out.push((rel, None));
            collect(root, &path, out)?;
        } else if ty.is_file() {
            out.push((rel, Some(path)));
        } else {
            return Err(SecretsError::Io {
                path,
                message: "is not a plain file or folder".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_confined() {
        assert_eq!(
            clean_path(b"production/secret.yaml").unwrap().unwrap(),
            "production/secret.yaml"
        );
        assert_eq!(
            clean_path(b"./production/./a.yaml").unwrap().unwrap(),
            "production/a.yaml"
        );
        assert_eq!(clean_path(b"./").unwrap(), None);
        assert!(clean_path(b"/etc/passwd").is_err());
        assert!(clean_path(b"production/../../x").is_err());
        assert!(clean_path(b"a\\b").is_err());
        assert!(clean_path(&[0xff, b'a']).is_err());
        assert_eq!(ancestors("a/b/c"), vec!["a/b".to_string(), "a".to_string()]);
    }
}
