//! Writing result files so that no reader ever sees half a file: each file is written to a
//! temporary file in the same folder, flushed to disk, then renamed over the target. A rename
//! within one folder is atomic, so a reader sees the old file or the new one, never a mix, also
//! when two runs write the same file at once (the last rename wins; each run's temporary file
//! has its own random name).
//!
//! Output folders are checked before a search starts ([`prepare_dir`], [`check_target`]): a
//! folder that cannot be created, a file where the folder should be, a folder without write
//! permission or on a full disk is reported then, not after a long search.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes written (and flushed) by the probe file of [`prepare_dir`]: about one trace file, so
/// that a full disk is found before the search rather than when its results are written.
pub const PROBE_BYTES: usize = 16 * 1024;

/// Why an output file could not be written.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum OutputError {
    /// The folder does not exist and cannot be created.
    #[error("{path}: cannot create the output folder: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    /// Something that is not a folder is where the folder should be.
    #[error("{path}: exists and is not a folder; expected a folder for output files")]
    NotAFolder { path: PathBuf },
    /// A file cannot be written in the folder (permission, read-only or full file system).
    #[error("{path}: cannot write files in the output folder: {source}")]
    NotWritable { path: PathBuf, source: std::io::Error },
    /// A target file name is taken by a folder, so the file could not be renamed into place.
    #[error("{path}: is a folder; expected a file name that can be written")]
    TargetIsFolder { path: PathBuf },
    /// A file that is there could not be read (a golden trace that is not a regular file, or
    /// too large), so it is neither compared nor replaced.
    #[error("{path}: cannot read the existing file: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The file could not be written or renamed into place.
    #[error("{path}: cannot write: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Creates `dir` (and its parents) and checks that files can be written in it: a probe file of
/// [`PROBE_BYTES`] is written, flushed to disk and removed. Call it before a search, so that a
/// bad output folder is reported before the search starts, not after.
pub fn prepare_dir(dir: &Path) -> Result<(), OutputError> {
    if dir.exists() && !dir.is_dir() {
        return Err(OutputError::NotAFolder { path: dir.into() });
    }
    std::fs::create_dir_all(dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
            OutputError::NotAFolder { path: first_non_folder(dir).unwrap_or(dir).into() }
        }
        _ => OutputError::Folder { path: dir.into(), source },
    })?;
    let not_writable = |source| OutputError::NotWritable { path: dir.into(), source };
    let mut probe = tempfile::NamedTempFile::new_in(dir).map_err(not_writable)?;
    probe.write_all(&[0u8; PROBE_BYTES]).map_err(not_writable)?;
    probe.as_file().sync_all().map_err(not_writable)?;
    probe.close().map_err(not_writable)
}

/// Checks that `path` can be the target of [`write_atomic`]: it is absent or a file (a folder
/// of that name would make the final rename fail after the search).
pub fn check_target(path: &Path) -> Result<(), OutputError> {
    if path.is_dir() {
        return Err(OutputError::TargetIsFolder { path: path.into() });
    }
    Ok(())
}

/// The first ancestor of `dir` (or `dir` itself) that exists and is not a folder.
fn first_non_folder(dir: &Path) -> Option<&Path> {
    dir.ancestors().filter(|a| !a.as_os_str().is_empty()).find(|a| a.exists() && !a.is_dir())
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, flushed, then
/// renamed over `path`). The file gets the permissions of a newly created file (`0666` less the
/// umask on Unix), not the owner-only permissions of a temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    check_target(path)?;
    let err = |source| OutputError::Write { path: path.into(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".refresh-check-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_where_the_folder_should_be_is_named() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("traces");
        std::fs::write(&file, "x").unwrap();
        let e = prepare_dir(&file).unwrap_err().to_string();
        assert_eq!(e, format!("{}: exists and is not a folder; expected a folder for output files", file.display()));
        // A file further up the path is the one named.
        let e = prepare_dir(&file.join("deeper")).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: exists and is not a folder", file.display())), "{e}");
    }

    #[test]
    fn a_missing_folder_is_created_and_the_probe_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b/traces");
        prepare_dir(&dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn written_files_are_readable_by_others_and_replace_the_old_one_whole() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.json");
        write_atomic(&f, b"first").unwrap();
        write_atomic(&f, b"second").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o044, 0o044 & !umask(), "mode {mode:o}");
        }
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn a_folder_in_place_of_the_target_is_an_error_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.json");
        std::fs::create_dir(&f).unwrap();
        assert!(matches!(check_target(&f), Err(OutputError::TargetIsFolder { .. })));
        assert!(matches!(write_atomic(&f, b"x"), Err(OutputError::TargetIsFolder { .. })));
    }

    /// The process's umask, read without changing it (Linux: `/proc/self/status`).
    #[cfg(unix)]
    fn umask() -> u32 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_string())))
            .and_then(|v| u32::from_str_radix(&v, 8).ok())
            .unwrap_or(0o022)
    }
}
