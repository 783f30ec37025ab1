//! The `rstask` binary: collects the process's arguments and environment, calls
//! [`rstask::run`] and exits with the code it returns. A panic (a bug) is reported as the
//! contract's one JSON error line with `error_kind: "internal"` and exit code 70; SIGTERM
//! ends the process with 143 ([`rstask::signals`]).

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use rstask::config::Env;
use rstask::error::Exit;
use rstask::{logging, signals};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let env: Env = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();

    panic::set_hook(Box::new(|info| {
        let mut fields = serde_json::Map::new();
        fields.insert("error_kind".into(), "internal".into());
        fields.insert("exit_code".into(), Exit::Internal.code().into());
        fields.insert("error".into(), info.to_string().into());
        let line = logging::render_line("error", "internal error", fields, logging::now_millis());
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }));

    let code = panic::catch_unwind(AssertUnwindSafe(|| {
        signals::exit_on_sigterm().expect("installing the SIGTERM handler");
        rstask::run(
            &argv,
            &env,
            &mut io::stdout().lock(),
            Box::new(io::stderr()),
        )
    }))
    .unwrap_or(Exit::Internal);
    code.into()
}
