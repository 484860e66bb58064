//! Reading input files (model files, trace files, reports to merge) safely: only regular
//! files are read, and at most [`MAX_INPUT_BYTES`] of them.
//!
//! The file is opened first, without blocking (`O_NONBLOCK` on Unix, so that opening a FIFO
//! with no writer returns at once), and the opened handle is then checked: a FIFO, a device
//! (`/dev/zero`), a socket or a folder is refused, and so is a file larger than the cap. As
//! the checks are made on the handle that is read, the file cannot be swapped between the
//! check and the read. The read itself is bounded too, in case the file grows meanwhile.

use std::io::Read;
use std::path::Path;

/// The largest input file read, in bytes (64 MiB): the largest model or trace file the tool
/// writes is well under 1 MiB.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// What kind of file `meta` describes, in words, for errors.
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    if t.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Reads the regular file `path` as UTF-8 text of at most [`MAX_INPUT_BYTES`].
///
/// Errors are `std::io::Error`s whose message says what was found and what was expected
/// (`found a FIFO (named pipe), expected a regular file`; `found a file of 607 MB, expected at
/// most 64 MiB`), so that callers keep their own `PATH: cannot read the … file:` prefix.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    read_text_capped(path, MAX_INPUT_BYTES)
}

/// [`read_text`] with a cap of `cap` bytes.
pub fn read_text_capped(path: &Path, cap: u64) -> std::io::Result<String> {
    let file = open_without_blocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("found {}, expected a regular file", kind_of(&meta)),
        ));
    }
    if meta.len() > cap {
        return Err(too_large(meta.len(), cap));
    }
    let mut text = String::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_string(&mut text)?;
    if text.len() as u64 > cap {
        return Err(too_large(text.len() as u64, cap));
    }
    Ok(text)
}

/// Reads `path` as UTF-8 text of at most `cap` bytes, as [`read_text_capped`] does, and also
/// accepts a pipe: a FIFO (`mkfifo`, a shell's `<(…)`) or standard input given as
/// `/dev/stdin` or `-` when it is a pipe or a regular file. A pipe has no length to check
/// first: it is opened and read in blocking mode (waiting for its writer) until the writer
/// closes it, and refused once more than `cap` bytes have come. A device, a socket or a folder is still refused. Meant for small
/// inputs read once (a query file); model and trace files stay regular files.
pub fn read_text_or_pipe(path: &Path, cap: u64) -> std::io::Result<String> {
    if path.as_os_str() == "-" {
        return read_capped(std::io::stdin().lock(), cap);
    }
    let file = open_without_blocking(path)?;
    let meta = file.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_fifo() {
            // Opened without blocking, a FIFO whose writer has not opened it yet would read as
            // empty: open it again, blocking until a writer comes, and read that handle.
            drop(file);
            let pipe = std::fs::File::open(path)?;
            if !pipe.metadata()?.file_type().is_fifo() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the pipe was replaced while it was opened, expected a FIFO",
                ));
            }
            return read_capped(pipe, cap);
        }
    }
    drop(file);
    read_text_capped(path, cap)
}

/// Opens `path` for reading without blocking (on Unix `O_NONBLOCK`), so that opening a FIFO
/// with no writer, or a device, does not hang before its kind is checked.
fn open_without_blocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Reads `reader` to its end as UTF-8 text, refused once more than `cap` bytes have come.
fn read_capped(reader: impl Read, cap: u64) -> std::io::Result<String> {
    let mut text = String::new();
    reader.take(cap + 1).read_to_string(&mut text)?;
    if text.len() as u64 > cap {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {} bytes came from the pipe, expected at most {} bytes", cap, cap),
        ));
    }
    Ok(text)
}

fn too_large(len: u64, cap: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("found a file of {} bytes, expected at most {} bytes ({} MiB)", len, cap, cap / (1024 * 1024)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_and_a_larger_one_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("m.json");
        std::fs::write(&f, "{}").unwrap();
        assert_eq!(read_text(&f).unwrap(), "{}");
        let e = read_text_capped(&f, 1).unwrap_err().to_string();
        assert_eq!(e, "found a file of 2 bytes, expected at most 1 bytes (0 MiB)");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_a_folder_and_a_fifo_are_refused_without_blocking() {
        let e = read_text(Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(e, "found a character device, expected a regular file");
        let d = tempfile::tempdir().unwrap();
        let e = read_text(d.path()).unwrap_err().to_string();
        assert!(e.contains("a folder") || e.contains("Is a directory"), "{e}");
        let fifo = d.path().join("f.json");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let e = read_text(&fifo).unwrap_err().to_string();
        assert_eq!(e, "found a FIFO (named pipe), expected a regular file");
        // The pipe reader takes it, waiting for the writer, and bounds what it reads.
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "{\"queries\": []}").unwrap())
        };
        assert_eq!(read_text_or_pipe(&fifo, 1024).unwrap(), "{\"queries\": []}");
        writer.join().unwrap();
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let _ = std::fs::write(fifo, "0123456789");
            })
        };
        let e = read_text_or_pipe(&fifo, 4).unwrap_err().to_string();
        assert_eq!(e, "more than 4 bytes came from the pipe, expected at most 4 bytes");
        writer.join().unwrap();
        let e = read_text_or_pipe(Path::new("/dev/zero"), 4).unwrap_err().to_string();
        assert_eq!(e, "found a character device, expected a regular file");
    }
}
