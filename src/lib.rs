//! refresh-check: an exhaustive model checker for session and refresh-token protocols.
//!
//! Data flows one way: a model file ([`scenario`]) is validated into a [`scenario::Scenario`]
//! (an authorization server's handlers written in, or expanded into, the [`protocol`]
//! language), built into an actor model ([`model`]: stateright's `Actor` and `Model` traits, a state type of
//! its own) with its [`properties`], searched
//! ([`search`], driven by [`check`]) into [`check::Results`], and written out as reports
//! ([`report`]) and counterexample traces ([`trace`], [`output`]).
//!
//! ```no_run
//! use refresh_check::{check, scenario::Scenario};
//! let sc = Scenario::load("models/directus-10.10-session.json".as_ref()).unwrap();
//! let (_model, results) = check::check(&sc, &check::CheckOptions::default());
//! for p in &results.properties {
//!     println!("{}: {:?}", p.name, p.status);
//! }
//! ```
#![warn(missing_docs)]

pub mod accept;
pub mod bounds;
pub mod check;
pub mod exit;
pub mod explorer;
pub mod golden;
pub mod input;
pub mod interrupt;
pub mod jsonfile;
pub mod limits;
pub mod message;
pub mod model;
pub mod oracle;
pub mod output;
pub mod partition;
pub mod progress;
pub mod properties;
pub mod protocol;
pub mod query;
pub mod reference;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod search;
pub mod shape;
pub mod suite;
pub mod trace;
pub mod viewer;
