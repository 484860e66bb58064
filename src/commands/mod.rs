//! One module per subcommand: its arguments (clap derive) and its `run`.

pub mod check;
pub mod models;
pub mod replay;
pub mod trace;
