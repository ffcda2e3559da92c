//! `presenced-receiver`: see the `presenced_receiver` library and `--help`.

use std::net::TcpListener;
use std::process::ExitCode;

use presenced_receiver::cli::{self, Command, UsageError};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("presenced-receiver: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), UsageError> {
    let options = match cli::parse_args(std::env::args_os().skip(1))? {
        Command::Help => {
            print!("{}", cli::USAGE);
            return Ok(());
        }
        Command::Run(options) => options,
    };
    let cfg = options.receiver_config(std::env::var_os(cli::KEY_ENV))?;
    let sink = options.sink()?;
    let listener = TcpListener::bind(options.listen).map_err(|e| UsageError {
        option: "--listen".into(),
        message: format!("cannot listen on {}: {e}", options.listen),
    })?;
    let addr = listener.local_addr().unwrap_or(options.listen);
    // Printed even with -q: a caller that asked for port 0 learns the port here.
    eprintln!("presenced-receiver: listening on {addr}");
    presenced_receiver::serve(listener, cfg, sink).map_err(|e| UsageError {
        option: "--listen".into(),
        message: e.to_string(),
    })
}
