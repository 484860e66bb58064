//! Interruption: Ctrl-C (SIGINT), SIGTERM and SIGHUP stop a search cleanly.
//!
//! [`install`] sets one process-wide handler (the `ctrlc` crate, with its `termination`
//! feature for SIGTERM and SIGHUP). The first signal raises the cancel flag that the search
//! polls (every 1024 states); the search then stops, `check` prints the partial report (its
//! undecided properties `unknown`, never `holds` or `unreached`) and exits 3. A second signal
//! ends the process at once with exit code 130 (128 + SIGINT), for a user who does not want to
//! wait for the report; files already written stay whole, because every output file is
//! renamed into place only once complete ([`crate::output::write_atomic`]).
//!
//! The handler thread never waits: the first signal's notice is printed by a thread of its
//! own (stderr may be locked by the progress display, or be a full pipe), so the handler is
//! always ready for the second signal, which calls `_exit(2)`: no stdio flush, no exit
//! handlers, nothing that can block.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The exit code after a second signal: 128 + SIGINT, the shell's convention.
pub const EXIT_SECOND_SIGNAL: i32 = 130;

static FLAG: OnceLock<Result<Arc<AtomicBool>, String>> = OnceLock::new();

/// Installs the handler once per process and returns the cancel flag that the first signal
/// raises. Later calls return the same flag. An error says why the handler could not be set
/// (for instance another handler was set by the embedding program).
pub fn install() -> Result<Arc<AtomicBool>, String> {
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let raised = flag.clone();
        ctrlc::set_handler(move || {
            if raised.swap(true, Ordering::SeqCst) {
                // SAFETY: `_exit` ends the process without running any code of this process
                // (no locks, no destructors); it is async-signal-safe.
                unsafe { libc::_exit(EXIT_SECOND_SIGNAL) };
            }
            std::thread::spawn(|| {
                eprintln!(
                    "refresh-check: interrupted; stopping the search for a partial report (again to quit at once)"
                )
            });
        })
        .map_err(|e| format!("cannot set the Ctrl-C/SIGTERM handler: {e}"))?;
        Ok(flag)
    })
    .clone()
}
