//! Resource limits measured on the process, not on the model: its resident memory.
//!
//! The memory budget (`check --max-memory MiB`) is compared with the process's resident set
//! size as the operating system reports it (`/proc/self/statm` on Linux, the working set on
//! Windows, `task_info` on macOS; through the `memory-stats` crate). The search reads it with
//! its cancel flag, once every 1024 states it expands, so a run may pass its budget by what
//! 1024 expansions allocate (a few MiB for the shipped models) before it stops. Where the
//! platform reports nothing, the budget is never reached.

/// The most seconds a time option takes (`--timeout`, `--request-timeout`, `--tick-seconds`,
/// `--sweep-timeout`): 10⁹ s, about 31.7 years. Larger values cannot be added to the clock
/// (`std::time::Duration` and `Instant` overflow), so they are refused as usage errors.
pub const MAX_SECONDS: f64 = 1e9;

/// A clap value parser for a time limit: a finite number of seconds above 0 and at most
/// [`MAX_SECONDS`]. The error names what was found and what is expected.
pub fn positive_seconds(text: &str) -> Result<f64, String> {
    seconds_in(text, false)
}

/// A clap value parser for a duration that may be zero: a finite number of seconds from 0 to
/// [`MAX_SECONDS`].
pub fn seconds(text: &str) -> Result<f64, String> {
    seconds_in(text, true)
}

fn seconds_in(text: &str, zero: bool) -> Result<f64, String> {
    let low = if zero { "from 0" } else { "above 0" };
    let expected = format!("expected a number of seconds {low} and at most 1000000000 (about 31 years)");
    let x: f64 = text.trim().parse().map_err(|_| format!("found {text:?}, {expected}"))?;
    if x.is_finite() && (x > 0.0 || (zero && x == 0.0)) && x <= MAX_SECONDS {
        Ok(x)
    } else {
        Err(format!("found {}, {expected}", text.trim()))
    }
}

/// Bytes in one MiB, the unit of `--max-memory`.
pub const MIB: u64 = 1024 * 1024;

/// The process's resident memory in bytes, if the platform reports it.
pub fn resident_bytes() -> Option<u64> {
    memory_stats::memory_stats().map(|m| m.physical_mem as u64)
}

/// Whether the process's resident memory has reached `budget` bytes (false where the platform
/// reports nothing).
pub fn memory_reached(budget: u64) -> bool {
    resident_bytes().is_some_and(|r| r >= budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_reported_and_a_tiny_budget_is_reached() {
        let r = resident_bytes().expect("this platform reports resident memory");
        // A running test binary holds at least its code and stack: more than 1 MiB, less
        // than the machine.
        assert!(r > MIB && r < 1 << 40, "{r}");
        assert!(memory_reached(MIB));
        assert!(!memory_reached(u64::MAX));
    }

    /// Issue 13, item 8: `--timeout 1e300` panicked ("cannot convert float seconds to
    /// Duration"); every time option is now parsed by these.
    #[test]
    fn seconds_are_finite_in_range_and_convert_to_a_duration() {
        assert_eq!(positive_seconds("2"), Ok(2.0));
        assert_eq!(positive_seconds("0.25"), Ok(0.25));
        assert_eq!(seconds("0"), Ok(0.0));
        assert_eq!(positive_seconds("1e9"), Ok(1e9));
        for bad in ["0", "-1", "1e300", "inf", "NaN", "1000000001"] {
            let e = positive_seconds(bad).unwrap_err();
            assert!(e.starts_with("found ") && e.contains("at most 1000000000"), "{bad}: {e}");
        }
        assert_eq!(
            positive_seconds("1e300").unwrap_err(),
            "found 1e300, expected a number of seconds above 0 and at most 1000000000 (about 31 years)"
        );
        assert_eq!(
            seconds("ten").unwrap_err(),
            "found \"ten\", expected a number of seconds from 0 and at most 1000000000 (about 31 years)"
        );
        let longest = std::time::Duration::from_secs_f64(MAX_SECONDS);
        assert!(std::time::Instant::now().checked_add(longest * 255).is_some());
    }
}
