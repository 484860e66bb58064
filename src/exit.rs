//! The exit codes of `refresh-check`: a stable contract for CI.

/// Every verdict is as expected (a model file may state expected verdicts; without them,
/// every invariant holds and every sanity property is reached).
pub const AS_EXPECTED: u8 = 0;
/// Some verdict differs from what is expected (a new counterexample, or an expected one that
/// is gone, or a vacuous sanity property).
pub const DIFFERS: u8 = 1;
/// Bad input or usage: an unreadable or invalid model or trace file, an unwritable output
/// path, an unknown flag. Nothing was checked.
pub const BAD_INPUT: u8 = 2;
/// A limit (`--max-depth`, `--max-states`, `--timeout`) or an interruption stopped the search
/// before every verdict was final; nothing that was decided differs.
pub const INCOMPLETE: u8 = 3;
