//! Writing result files so that no reader ever sees half a file: a file is written to a
//! temporary file in the same folder, flushed to disk, then renamed over the target. A rename
//! within one folder is atomic, so a reader sees the old file or the new one, never a mix, also
//! when two runs write the same file at once (the last rename wins; each run's temporary file
//! has its own random name).
//!
//! Only a regular file (or a name not yet taken) is replaced that way. A target that is
//! something else (a symbolic link such as `/dev/stdout`, a FIFO, a device such as `/dev/full`,
//! a terminal) is never renamed over: it is opened and written in place, and a failure to
//! write (a full device, a FIFO nobody reads) is an error. An output is never one of the run's
//! inputs ([`refuse_input`]).
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
    /// The output would overwrite one of the run's input files.
    #[error("{path}: is the {what} {input}; refusing to overwrite an input (choose another output file)")]
    IsInput { path: PathBuf, what: &'static str, input: PathBuf },
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

/// Whether `path` names something [`write_atomic`] writes in place rather than replaces: a
/// symbolic link, a FIFO, a device or a socket (anything there that is neither a regular file
/// nor a folder). Such a target's folder need not be writable (`/dev`), so
/// [`prepare_dir`] is not needed for it.
pub fn writes_in_place(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Refuses an output `path` that is one of `inputs` (`what` names them in the error: "model
/// file"): the same file (same device and inode, however either path is written), or, for an
/// output not yet written, the same canonical path.
pub fn refuse_input<'a>(
    path: &Path,
    inputs: impl IntoIterator<Item = &'a PathBuf>,
    what: &'static str,
) -> Result<(), OutputError> {
    let target = identity(path);
    for input in inputs {
        if target.is_some() && identity(input) == target {
            return Err(OutputError::IsInput { path: path.into(), what, input: input.clone() });
        }
    }
    Ok(())
}

/// What identifies the file `path` names: its device and inode on Unix, else its canonical
/// path; for a name not yet taken, the canonical path of its folder joined with its name.
fn identity(path: &Path) -> Option<(u64, u64, PathBuf)> {
    match std::fs::metadata(path) {
        #[cfg(unix)]
        Ok(m) => {
            use std::os::unix::fs::MetadataExt;
            Some((m.dev(), m.ino(), PathBuf::new()))
        }
        #[cfg(not(unix))]
        Ok(_) => path.canonicalize().ok().map(|p| (0, 0, p)),
        Err(_) => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let dir = dir.canonicalize().or_else(|_| std::path::absolute(dir)).ok()?;
            Some((0, 0, dir.join(path.file_name()?)))
        }
    }
}

/// The first ancestor of `dir` (or `dir` itself) that exists and is not a folder.
fn first_non_folder(dir: &Path) -> Option<&Path> {
    dir.ancestors().filter(|a| !a.as_os_str().is_empty()).find(|a| a.exists() && !a.is_dir())
}

/// Writes `bytes` to `path`: atomically (temporary file in the same folder, flushed, then
/// renamed over `path`) when `path` is a regular file or not yet taken; in place when it is
/// anything else ([`writes_in_place`]). A new file gets the permissions of a newly created
/// file (`0666` less the umask on Unix), not the owner-only permissions of a temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    check_target(path)?;
    let err = |source| OutputError::Write { path: path.into(), source };
    if writes_in_place(path) {
        return write_in_place(path, bytes).map_err(err);
    }
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

/// Writes `bytes` into the existing `path` without replacing it. It is opened without
/// blocking (a FIFO that nobody reads is an error, not a hang), then written in blocking mode.
fn write_in_place(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let mut file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        let no_reader = e.raw_os_error() == Some(libc::ENXIO);
        #[cfg(not(unix))]
        let no_reader = false;
        if no_reader {
            std::io::Error::new(e.kind(), format!("a FIFO that no process is reading ({e})"))
        } else {
            e
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this function owns, with flags it read from it.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    let regular = file.metadata()?.is_file();
    if regular {
        // A symbolic link to a regular file: the link is kept, the file it names rewritten.
        file.set_len(0)?;
    }
    file.write_all(bytes)?;
    file.flush()?;
    if regular {
        file.sync_all()?;
    }
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

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place_never_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let e = write_atomic(Path::new("/dev/full"), b"x").unwrap_err().to_string();
        assert!(e.starts_with("/dev/full: cannot write: No space left on device"), "{e}");
        assert!(std::fs::metadata("/dev/full").unwrap().file_type().is_char_device());
        write_atomic(Path::new("/dev/null"), b"x").unwrap();
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_keeps_pointing_where_it_did() {
        let d = tempfile::tempdir().unwrap();
        let (f, link) = (d.path().join("f"), d.path().join("link"));
        std::fs::write(&f, "old old old").unwrap();
        std::os::unix::fs::symlink(&f, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&f).unwrap(), b"new");
    }

    #[test]
    fn an_input_is_refused_as_output_however_it_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("m.json");
        std::fs::write(&f, "{}").unwrap();
        let other = d.path().join("sub/../m.json");
        std::fs::create_dir(d.path().join("sub")).unwrap();
        assert!(matches!(refuse_input(&other, [&f], "model file"), Err(OutputError::IsInput { .. })));
        assert!(refuse_input(&d.path().join("r.json"), [&f], "model file").is_ok());
        // Not yet written, but the same name as an input that will be: refused too.
        let later = d.path().join("later.json");
        assert!(refuse_input(&later, [&later], "trace file").is_err());
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
