//! Resource limits measured on the process, not on the model: its resident memory.
//!
//! The memory budget (`check --max-memory MiB`) is compared with the process's resident set
//! size as the operating system reports it (`/proc/self/statm` on Linux, the working set on
//! Windows, `task_info` on macOS; through the `memory-stats` crate). The search reads it with
//! its cancel flag, once every 1024 states it expands, so a run may pass its budget by what
//! 1024 expansions allocate (a few MiB for the shipped models) before it stops. Where the
//! platform reports nothing, the budget is never reached.

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
}
