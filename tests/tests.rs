//! Integration tests: one binary, one module per area.

mod util;

mod cli;
mod directus;
mod replay;
mod scenarios;
