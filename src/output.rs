//! Writing result files so that no reader ever sees half a file: each file is written to a
//! temporary file in the same folder, flushed, then renamed over the target.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output file could not be written.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum OutputError {
    /// The folder does not exist or cannot be created.
    #[error("{path}: cannot create the output folder: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    /// The file could not be written or renamed into place.
    #[error("{path}: cannot write: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Creates `dir` (and its parents) and checks that a file can be created in it, so that a bad
/// output folder is reported before a search starts, not after.
pub fn prepare_dir(dir: &Path) -> Result<(), OutputError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError::Folder { path: dir.into(), source })?;
    tempfile::NamedTempFile::new_in(dir).map(drop).map_err(|source| OutputError::Folder { path: dir.into(), source })
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let err = |source| OutputError::Write { path: path.into(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
