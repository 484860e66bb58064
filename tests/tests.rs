//! Integration tests: one binary, one module per area.

mod util;

mod cli;
mod directus;
mod fuzz;
mod replay;
mod robustness;
mod scenarios;
