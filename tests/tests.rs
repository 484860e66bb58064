//! Integration tests: one binary, one module per area.

mod util;

mod cli;
mod directus;
mod oracle;
mod scenarios;
mod symmetry;
