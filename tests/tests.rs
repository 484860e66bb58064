//! Integration tests: one binary, one module per area.

mod util;

mod cli;
mod directus;
mod industry;
mod scenarios;
