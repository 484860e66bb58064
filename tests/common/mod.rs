//! Temporary model and query files for the integration tests: one helper instead of a
//! `tempfile::tempdir()` plus `fs::write` in every test. The folder (and every file in it) is
//! removed when the [`TempFiles`] is dropped, so keep it alive while the files are read.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// A temporary folder for files a test writes (model files, query files, trace folders).
pub struct TempFiles {
    dir: tempfile::TempDir,
}

impl TempFiles {
    /// An empty temporary folder. Panics if the system's temporary folder cannot be written.
    pub fn new() -> Self {
        TempFiles { dir: tempfile::tempdir().expect("a temporary folder") }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `name` (a relative path; missing folders are created) and returns
    /// the file's full path.
    pub fn write(&self, name: &str, text: impl AsRef<str>) -> PathBuf {
        let file = self.dir.path().join(name);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&file, text.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        file
    }

    /// Copies the shipped model file `rel` (relative to the repository root) to `name`, with
    /// `edit` applied to its top-level JSON object (key order kept); returns the copy's path.
    pub fn copy_model(&self, rel: &str, name: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> PathBuf {
        let text = fs::read_to_string(crate::util::root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let mut v: Value = serde_json::from_str(&text).unwrap();
        edit(v.as_object_mut().expect("a model file is a JSON object"));
        self.write(name, &serde_json::to_string_pretty(&v).unwrap())
    }
}

/// Writes `text` to `name` in a new temporary folder: the folder (keep it alive) and the
/// file's full path.
pub fn temp_file(name: &str, text: impl AsRef<str>) -> (TempFiles, PathBuf) {
    let files = TempFiles::new();
    let path = files.write(name, text);
    (files, path)
}
