//! Progress of a running search, for people watching a long one.
//!
//! The search publishes its counts into shared [`Counters`] (relaxed atomic stores, every 1024
//! expanded states and once at the end); a display thread reads them. The library never draws:
//! the binary decides whether and how (a terminal spinner on stderr, plain lines in a log, or
//! nothing with `--quiet`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts a search publishes while it runs. All counts, no units beyond "states" and "actions".
#[derive(Debug, Default)]
pub struct Counters {
    /// Transitions generated so far (revisits included): a count.
    pub states: AtomicU64,
    /// Distinct states stored so far: a count.
    pub unique_states: AtomicU64,
    /// The most actions on any path explored so far.
    pub depth: AtomicU64,
}

/// A copy of [`Counters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Transitions generated.
    pub states: u64,
    /// Distinct states stored.
    pub unique_states: u64,
    /// The most actions on an explored path.
    pub depth: u64,
}

impl Counters {
    /// Publishes the search's current counts (called by the search).
    pub fn publish(&self, states: u64, unique_states: u64, depth: usize) {
        self.states.store(states, Ordering::Relaxed);
        self.unique_states.store(unique_states, Ordering::Relaxed);
        self.depth.store(depth as u64, Ordering::Relaxed);
    }

    /// Reads the counts (called by a display).
    pub fn read(&self) -> Snapshot {
        Snapshot {
            states: self.states.load(Ordering::Relaxed),
            unique_states: self.unique_states.load(Ordering::Relaxed),
            depth: self.depth.load(Ordering::Relaxed),
        }
    }

    /// Sets every count to zero, before the next search.
    pub fn reset(&self) {
        self.publish(0, 0, 0);
    }
}

/// How a [`Meter`] shows progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    /// Not at all (`--quiet`, or stderr is not a terminal and `--progress` was not given).
    Off,
    /// A spinner line on stderr, redrawn in place (stderr is a terminal).
    Terminal,
    /// A plain line on stderr every [`LINE_EVERY`] and one when done (`--progress` into a log).
    Lines,
}

/// How often [`Show::Lines`] writes a line.
pub const LINE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Shows the progress of one search on stderr from a thread of its own, until finished.
pub struct Meter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    show: Show,
    label: String,
    start: std::time::Instant,
}

fn line(label: &str, s: Snapshot, elapsed: std::time::Duration) -> String {
    use indicatif::{HumanCount, HumanDuration};
    let rate = s.states as f64 / elapsed.as_secs_f64().max(1e-9);
    format!(
        "{label}: {} states ({} unique), {} states/s, depth {}, {}",
        HumanCount(s.states),
        HumanCount(s.unique_states),
        HumanCount(rate as u64),
        s.depth,
        HumanDuration(elapsed)
    )
}

impl Meter {
    /// Starts showing `counters` under `label` (e.g. `[2/5] directus-10.10-session`).
    pub fn start(show: Show, label: String, counters: std::sync::Arc<Counters>) -> Meter {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        counters.reset();
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let thread = match show {
            Show::Off => None,
            Show::Terminal => {
                let (stop, label) = (stop.clone(), label.clone());
                Some(std::thread::spawn(move || {
                    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
                    );
                    while !stop.load(Ordering::Relaxed) {
                        bar.set_message(line(&label, counters.read(), start.elapsed()));
                        bar.tick();
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    bar.finish_and_clear();
                }))
            }
            Show::Lines => {
                let (stop, label) = (stop.clone(), label.clone());
                Some(std::thread::spawn(move || {
                    let mut next = LINE_EVERY;
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                        if start.elapsed() >= next {
                            eprintln!("progress: {}", line(&label, counters.read(), start.elapsed()));
                            next += LINE_EVERY;
                        }
                    }
                }))
            }
        };
        Meter { stop, thread, show, label, start }
    }

    /// Stops showing; in [`Show::Lines`] writes a last line with the final counts.
    pub fn finish(mut self, last: Snapshot) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if self.show == Show::Lines {
            eprintln!("progress: {} (done)", line(&self.label, last, self.start.elapsed()));
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
