//! Bad input, limits, interruption, output paths: see `docs/robustness.md`.
