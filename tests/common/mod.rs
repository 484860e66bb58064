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

/// A report's model checked and the steps of one property's counterexample pinned: checks the
/// shipped model file `file` (every verdict is what the file expects:
/// [`crate::util::checked`]), asserts that the search stored more than `searched` unique
/// states (a non-empty search), and that the shortest counterexample of `property` takes
/// exactly the steps `expected` (actor, action), in order. Returns the scenario, the model, the
/// results and that counterexample, for the test's further assertions on texts and stores.
pub fn pinned(
    file: &str,
    searched: u64,
    property: &str,
    expected: &[(&str, &str)],
) -> (
    refresh_check::scenario::Scenario,
    refresh_check::model::RefreshModel,
    refresh_check::check::Results,
    refresh_check::trace::Trace,
) {
    let (sc, m, r) = crate::util::checked(file);
    assert!(r.unique_states > searched, "{file}: searched {} unique states", r.unique_states);
    let t = crate::util::trace_of(&m, &sc, &r, property);
    assert_eq!(crate::util::steps(&t), crate::util::owned(expected), "{file}: {property}'s counterexample");
    (sc, m, r, t)
}
