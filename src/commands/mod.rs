//! One module per subcommand: its arguments (clap derive) and its `run`.

pub mod bench;
pub mod check;
pub mod compare;
pub mod explore;
pub mod html;
pub mod matrix;
pub mod models;
pub mod properties;
pub mod queries;
pub mod replay;
pub mod trace;
