//! Integration tests: one binary, one module per area.

mod common;
mod util;

mod access;
mod calls;
mod ci;
mod cli;
mod construct_models;
mod constructs;
mod coordination;
mod counterexamples;
mod dead_values;
mod directus;
mod everyday;
mod faults;
mod fuzz;
mod industry;
mod limits;
mod oracle;
mod partition;
mod protocol;
mod queries;
mod query_reports;
mod quiescent;
mod reactions;
mod replay;
mod reports;
mod requesters;
mod robustness;
mod scenarios;
mod sessions;
mod symmetry;
mod threads;
mod viewer;
mod waits;
mod wording;
