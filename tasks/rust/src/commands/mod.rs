//! The commands. Adding one: a module with a clap `Args` struct and an
//! `execute(args, ctx) -> Result<TaskResult>`, plus a variant of [`Command`].

use clap::Subcommand;

use crate::config::{Env, Settings};
use crate::error::Result;
use crate::result::TaskResult;

pub mod check_mapping;
pub mod generate;
pub mod selfcheck;
pub mod transform;

/// What every command gets besides its own flags.
pub struct Context<'a> {
    /// The validated common settings.
    pub settings: Settings,
    /// The environment of the run (for env fallbacks of command flags and secrets).
    pub env: &'a Env,
}

/// Every command of the tool.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that this image's runtime honours the task contract (no external service)
    Selfcheck(selfcheck::Args),
    /// Write a deterministic raw feed for a provider, with known counts of bad rows
    Generate(generate::Args),
    /// Check a mapping file against a sample feed: print the first rows as they will be staged and every quarantine reason found
    ///
    /// Runs the transform's own code on the local sample (CSV or NDJSON per the mapping, gzip or not; no S3). Exit 0 when the mapping stages rows of the sample, some quarantined or not; 64 when the mapping does not load; 65 when the sample cannot be read as a whole, holds no rows or none can be staged.
    #[allow(clippy::doc_markdown)] // --help text: plain words, no Markdown
    CheckMapping(check_mapping::Args),
    /// Transform raw provider objects into staged Parquet events, quarantining bad rows and unreadable (poison) objects
    ///
    /// Each raw object becomes staged/<path>.parquet, its rejected rows quarantine/<path>.ndjson. An object that cannot be read as a whole (corrupt or truncated gzip, bad header, unknown provider, malformed raw/ key, unreadable bytes) is a poison object: its reason goes to quarantine/_reasons/<path>.json (key, etag and size from the manifest, reason, detail), its stale staged and quarantine objects are deleted, it is counted in objects_quarantined and listed in outputs.quarantined_objects, and the other objects are transformed (exit 0). A missing object or a key outside raw/ fails the command (exit 65, after the others); S3 network errors exit 75.
    #[allow(clippy::doc_markdown)] // --help text: plain words, no Markdown
    Transform(transform::Args),
}

impl Command {
    /// The command's name, as typed.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Selfcheck(_) => "selfcheck",
            Self::CheckMapping(_) => "check-mapping",
            Self::Transform(_) => "transform",
            Self::Generate(_) => "generate",
        }
    }

    /// Runs the command.
    ///
    /// # Errors
    /// The command's failure, classified for the exit code.
    pub fn execute(self, ctx: &Context<'_>) -> Result<TaskResult> {
        match self {
            Self::Selfcheck(args) => selfcheck::execute(&args, ctx),
            Self::CheckMapping(args) => check_mapping::execute(&args, ctx),
            Self::Transform(args) => transform::execute(&args, ctx),
            Self::Generate(args) => generate::execute(&args, ctx),
        }
    }
}
