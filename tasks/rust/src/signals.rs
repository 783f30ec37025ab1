//! SIGTERM: Kubernetes deleting the pod, `docker stop`.
//!
//! The tool runs as PID 1 of its container, where the kernel drops SIGTERM unless a handler
//! is installed. [`exit_on_sigterm`] (called by `main`, never by [`crate::run`], which does
//! not exit) installs one: a thread of its own waits for the signal, writes the contract's
//! `terminated` line and exits 143 at once, wherever the command is. No result is written,
//! and a `selfcheck --hold` does not run to its end.

use std::io::{self, Write};

use serde_json::Map;
use signal_hook::consts::SIGTERM;
use signal_hook::iterator::Signals;

use crate::error::Exit;
use crate::logging;

/// Installs the SIGTERM handler and starts the thread that acts on it.
///
/// # Errors
/// When the handler cannot be registered or the thread cannot be started.
pub fn exit_on_sigterm() -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM])?;
    std::thread::Builder::new()
        .name("sigterm".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                let line = terminated_line(logging::now_millis());
                let _ = io::stderr().lock().write_all(line.as_bytes());
                std::process::exit(Exit::Terminated.code().into());
            }
        })?;
    Ok(())
}

/// The line logged on SIGTERM. It is written whatever `--log-level` says, like the error
/// line of a failure: it is what explains the exit code.
///
/// ```
/// assert_eq!(
///     rstask::signals::terminated_line(0),
///     "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"warn\",\"msg\":\"terminated\",\"tool\":\"rstask\",\"signal\":\"SIGTERM\"}\n"
/// );
/// ```
#[must_use]
pub fn terminated_line(millis: i64) -> String {
    let mut fields = Map::new();
    fields.insert("signal".into(), "SIGTERM".into());
    logging::render_line("warn", "terminated", fields, millis)
}
