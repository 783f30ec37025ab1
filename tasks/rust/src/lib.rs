//! `rstask`: polyetl's Rust task steps behind one CLI.
//!
//! Every step honours the task contract (`docs/task-contract.md` at the repository root):
//! `rstask <command> [flags]`, configuration from flags with `RSTASK_*` env fallbacks, JSON
//! log lines on stderr, one JSON result, and the contract's exit codes. [`run`] is the
//! whole program minus the process: it takes the arguments, the environment and the output
//! streams, and returns the exit code, so tests drive it in-process.

pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod generate;
pub mod logging;
pub mod result;
pub mod s3;
pub mod secrets;
pub mod signals;
#[cfg(test)]
mod testing;
pub mod transform;

pub use cli::run;

/// The tool's name, as it appears in logs and results.
pub const TOOL: &str = "rstask";
/// The tool's version (from `Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Prefix of every environment variable the tool reads.
pub const ENV_PREFIX: &str = "RSTASK_";
