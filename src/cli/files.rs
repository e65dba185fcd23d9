//! The files `selfrag ingest` is pointed at: directories walked, formats told by extension,
//! each file named by its absolute path.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::formats::Format;

/// The file itself, or the files under a directory that selfrag reads (hidden directories
/// such as `.git` are left out), sorted.
pub fn collect(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if entry.file_type()?.is_dir() {
                if !hidden {
                    pending.push(path);
                }
            } else if Format::from_path(&path).is_some() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// A file's external id: its absolute path, so that the same file is the same document
/// whichever directory the command runs from.
pub fn external_id_of(path: &Path) -> anyhow::Result<String> {
    let absolute = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    absolute
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("{}: the path is not UTF-8", path.display()))
}
