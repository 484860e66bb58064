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
//! handlers, nothing that can block. A search that stops quickly could end the process before
//! that thread runs, so the binary calls [`finish`] before it exits: the notice is printed once,
//! by whichever comes first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The notice a first signal prints on stderr.
pub const NOTICE: &str = "refresh-check: interrupted; stopping the search for a partial report (again to quit at once)";

/// Whether [`NOTICE`] has been printed; held while it is being printed.
static PRINTED: Mutex<bool> = Mutex::new(false);

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
            std::thread::spawn(|| print_notice(PRINTED.lock()));
        })
        .map_err(|e| format!("cannot set the Ctrl-C/SIGTERM handler: {e}"))?;
        Ok(flag)
    })
    .clone()
}

/// Prints [`NOTICE`] unless it was printed already (a poisoned lock is taken as it is).
fn print_notice(lock: std::sync::LockResult<std::sync::MutexGuard<'_, bool>>) {
    let mut printed = lock.unwrap_or_else(|e| e.into_inner());
    if !*printed {
        eprintln!("{NOTICE}");
        *printed = true;
    }
}

/// Called by the binary before it exits: if a signal arrived, makes sure its notice was
/// printed (the handler's printing thread may not have run yet). Waits at most one second for
/// a notice being printed by that thread (stderr may be a full pipe), never longer.
pub fn finish() {
    let raised = FLAG.get().and_then(|f| f.as_ref().ok()).is_some_and(|f| f.load(Ordering::SeqCst));
    if !raised {
        return;
    }
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        match PRINTED.try_lock() {
            Ok(guard) => return print_notice(Ok(guard)),
            Err(std::sync::TryLockError::Poisoned(e)) => return print_notice(Err(e)),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(std::sync::TryLockError::WouldBlock) => return,
        }
    }
}
