//! Integration tests: one binary, one module per area.

mod util;

mod access;
mod ci;
mod construct_models;
mod cli;
mod coordination;
mod counterexamples;
mod directus;
mod everyday;
mod fuzz;
mod industry;
mod limits;
mod oracle;
mod partition;
mod protocol;
mod quiescent;
mod queries;
mod query_reports;
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
