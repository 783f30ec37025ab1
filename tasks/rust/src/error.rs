//! The contract's exit codes and the errors that lead to them.
//!
//! A command returns [`Result`]; its error says which kind of failure it was, and
//! [`crate::run`] turns it into one JSON error line and the matching exit code. Causes are
//! kept as an [`anyhow::Error`] chain and reported joined with `": "`.

use std::fmt::Display;

/// The contract's exit codes (`docs/task-contract.md`, section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Ok,
    /// Bad flag, bad config value, missing command (`EX_USAGE`).
    Usage,
    /// Bad input or refused operation: retrying cannot help (`EX_DATAERR`).
    Permanent,
    /// An unexpected error: a bug (`EX_SOFTWARE`).
    Internal,
    /// Network, server busy, timeout: retrying may help (`EX_TEMPFAIL`).
    Transient,
    /// Nothing to process; the result is still written.
    NothingToDo,
    /// Stopped by SIGTERM (128 + 15, as a shell reports it); no result.
    Terminated,
}

impl Exit {
    /// The process exit code.
    ///
    /// ```
    /// use rstask::error::Exit;
    /// assert_eq!(Exit::Usage.code(), 64);
    /// assert_eq!(Exit::NothingToDo.code(), 99);
    /// assert_eq!(Exit::Terminated.code(), 143);
    /// ```
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Usage => 64,
            Self::Permanent => 65,
            Self::Internal => 70,
            Self::Transient => 75,
            Self::NothingToDo => 99,
            Self::Terminated => 143,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

/// Why a command failed, as the operators need to know it.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Bad flag or config value; the message names it and what was expected.
    #[error("{0}")]
    Usage(String),
    /// Retrying cannot help.
    #[error(transparent)]
    Permanent(anyhow::Error),
    /// Retrying may help.
    #[error(transparent)]
    Transient(anyhow::Error),
    /// Unexpected: a bug. Any `anyhow::Error` converts to this with `?`.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl TaskError {
    /// A usage error with this message.
    pub fn usage(message: impl Display) -> Self {
        Self::Usage(message.to_string())
    }

    /// A permanent failure with this message.
    pub fn permanent(message: impl Display) -> Self {
        Self::Permanent(anyhow::Error::msg(message.to_string()))
    }

    /// A transient failure with this message.
    pub fn transient(message: impl Display) -> Self {
        Self::Transient(anyhow::Error::msg(message.to_string()))
    }

    /// The contract's name for this kind of failure (`error_kind` in the error line).
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Usage(_) => "usage",
            Self::Permanent(_) => "permanent",
            Self::Transient(_) => "transient",
            Self::Internal(_) => "internal",
        }
    }

    /// The exit code this failure ends the process with.
    #[must_use]
    pub const fn exit(&self) -> Exit {
        match self {
            Self::Usage(_) => Exit::Usage,
            Self::Permanent(_) => Exit::Permanent,
            Self::Transient(_) => Exit::Transient,
            Self::Internal(_) => Exit::Internal,
        }
    }

    /// The cause chain, outermost first, joined with `": "`.
    ///
    /// ```
    /// use anyhow::Context;
    /// use rstask::error::TaskError;
    /// let cause: anyhow::Error = Err::<(), _>(anyhow::anyhow!("connection refused"))
    ///     .context("listing raw/acme/")
    ///     .unwrap_err();
    /// assert_eq!(TaskError::Transient(cause).chain(), "listing raw/acme/: connection refused");
    /// ```
    #[must_use]
    pub fn chain(&self) -> String {
        match self {
            Self::Usage(message) => message.clone(),
            Self::Permanent(e) | Self::Transient(e) | Self::Internal(e) => format!("{e:#}"),
        }
    }
}

/// A command's outcome.
pub type Result<T, E = TaskError> = std::result::Result<T, E>;

/// Classifies an error where it happens: `.permanent()?`, `.transient()?`.
pub trait Classify<T> {
    /// Marks the error as permanent: retrying cannot help.
    ///
    /// # Errors
    /// The error, as [`TaskError::Permanent`].
    fn permanent(self) -> Result<T>;
    /// Marks the error as transient: retrying may help.
    ///
    /// # Errors
    /// The error, as [`TaskError::Transient`].
    fn transient(self) -> Result<T>;
}

impl<T, E: Into<anyhow::Error>> Classify<T> for std::result::Result<T, E> {
    fn permanent(self) -> Result<T> {
        self.map_err(|e| TaskError::Permanent(e.into()))
    }

    fn transient(self) -> Result<T> {
        self.map_err(|e| TaskError::Transient(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_its_exit_code() {
        let cases = [
            (TaskError::usage("u"), "usage", 64),
            (TaskError::permanent("p"), "permanent", 65),
            (TaskError::transient("t"), "transient", 75),
            (TaskError::Internal(anyhow::anyhow!("i")), "internal", 70),
        ];
        for (error, kind, code) in cases {
            assert_eq!((error.kind(), error.exit().code()), (kind, code));
        }
    }

    #[test]
    fn classify_keeps_the_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        let error = Err::<(), _>(io).transient().unwrap_err();
        assert_eq!(error.kind(), "transient");
        assert_eq!(error.chain(), "timed out");
    }
}
