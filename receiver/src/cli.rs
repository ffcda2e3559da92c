//! Command line of `presenced-receiver`, kept apart from the server so that it
//! can be tested without a process and the server without argv.
//!
//! The key is read from `--key-file` or `PRESENCED_KEY`, never from a flag:
//! argv is readable by every user of the machine.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{ReceiverConfig, Sink};
use presenced_report::read_key_file;

pub const USAGE: &str = "\
usage: presenced-receiver --listen ADDR:PORT [--key-file FILE] [--out FILE] [--status CODE] [-q]

Receives the reports that presenced POSTs, checks their Signature
(HMAC-SHA256 with the shared key) and prints each accepted report as one
JSON line. Answers 403 to a missing or wrong signature, 400 to a body that is
not a report, 405 to anything but POST, 413 to a body over 16 MiB.

  --listen ADDR:PORT  address to listen on, e.g. 127.0.0.1:8080 or [::]:8080
                      (port 0 picks a free port; the address chosen is printed)
  --key-file FILE     the shared key (trailing newlines are not part of it);
                      without it the key comes from the environment
                      variable PRESENCED_KEY
  --out FILE          append accepted reports to FILE instead of stdout
  --status CODE       answer accepted reports with CODE instead of 200
                      (200-599; to see how a sender handles failures)
  -q, --quiet         no log line per request on stderr
  -h, --help          this text
";

/// The environment variable that holds the key when `--key-file` is not
/// given: the daemon's, so that both sides of a test or demo share it.
pub use presenced_report::KEY_ENV;

/// A command line that cannot run; `option` is what the user has to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub option: String,
    pub message: String,
}

impl UsageError {
    fn new(option: impl Into<String>, message: impl Into<String>) -> UsageError {
        UsageError {
            option: option.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.message)
    }
}

impl std::error::Error for UsageError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Run(Options),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub listen: SocketAddr,
    pub key_file: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub status: u16,
    pub quiet: bool,
}

/// Parses the arguments after the program name.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut listen: Option<SocketAddr> = None;
    let mut key_file = None;
    let mut out = None;
    let mut status = 200;
    let mut quiet = false;
    loop {
        let arg = parser
            .next()
            .map_err(|e| UsageError::new("command line", e.to_string()))?;
        let Some(arg) = arg else { break };
        match arg {
            Long("listen") => {
                let text = string_value(&mut parser, "--listen")?;
                let addr = text.parse().map_err(|_| {
                    UsageError::new(
                        "--listen",
                        format!("'{text}' is not an address and port (like 127.0.0.1:8080 or [::1]:8080)"),
                    )
                })?;
                listen = Some(addr);
            }
            Long("key-file") => key_file = Some(PathBuf::from(os_value(&mut parser, "--key-file")?)),
            Long("out") => out = Some(PathBuf::from(os_value(&mut parser, "--out")?)),
            Long("status") => {
                let text = string_value(&mut parser, "--status")?;
                status = text
                    .parse::<u16>()
                    .ok()
                    .filter(|code| (200..=599).contains(code))
                    .ok_or_else(|| UsageError::new("--status", format!("'{text}' is not an HTTP status from 200 to 599")))?;
            }
            Short('q') | Long("quiet") => quiet = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            Long("key") => {
                return Err(UsageError::new(
                    "--key",
                    format!("the key is never a flag (anyone can read a command line): use --key-file FILE or {KEY_ENV}"),
                ))
            }
            Long(other) => return Err(UsageError::new(format!("--{other}"), "unknown option (see --help)")),
            Short(other) => return Err(UsageError::new(format!("-{other}"), "unknown option (see --help)")),
            Value(v) => {
                return Err(UsageError::new(
                    v.to_string_lossy().into_owned(),
                    "unexpected argument (see --help)",
                ))
            }
        }
    }
    let listen = listen
        .ok_or_else(|| UsageError::new("--listen", "is required (like --listen 127.0.0.1:8080)"))?;
    let options = Options {
        listen,
        key_file,
        out,
        status,
        quiet,
    };
    options.validate()?;
    Ok(Command::Run(options))
}

fn os_value(parser: &mut lexopt::Parser, option: &str) -> Result<OsString, UsageError> {
    parser
        .value()
        .map_err(|_| UsageError::new(option, "needs a value"))
}

fn string_value(parser: &mut lexopt::Parser, option: &str) -> Result<String, UsageError> {
    os_value(parser, option)?.into_string().map_err(|v| {
        UsageError::new(
            option,
            format!("'{}' is not valid text", v.to_string_lossy()),
        )
    })
}

impl Options {
    pub fn validate(&self) -> Result<(), UsageError> {
        if !(200..=599).contains(&self.status) {
            return Err(UsageError::new(
                "--status",
                format!("{} is not an HTTP status from 200 to 599", self.status),
            ));
        }
        if self
            .key_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(UsageError::new("--key-file", "is empty"));
        }
        if self.out.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(UsageError::new("--out", "is empty"));
        }
        Ok(())
    }

    /// Reads the key (`env_key` is the value of [`KEY_ENV`], passed in so
    /// that tests need not change the process environment).
    pub fn receiver_config(&self, env_key: Option<OsString>) -> Result<ReceiverConfig, UsageError> {
        let (key, source) = match &self.key_file {
            Some(path) => {
                let key = read_key_file(path, "--key-file").map_err(|problem| UsageError::new("--key-file", problem))?;
                if let Some(w) = key.warning {
                    eprintln!("presenced-receiver: warning: {w}");
                }
                (key.bytes, "--key-file")
            }
            None => match env_key {
                Some(value) => (std::os::unix::ffi::OsStringExt::into_vec(value), KEY_ENV),
                None => {
                    return Err(UsageError::new(
                        "--key-file",
                        format!("no key: give --key-file FILE or set {KEY_ENV}"),
                    ))
                }
            },
        };
        let mut cfg = ReceiverConfig::new(key);
        cfg.accept_status = self.status;
        cfg.log_requests = !self.quiet;
        cfg.validate().map_err(|e| {
            let option = match e.field {
                "key" => source,
                "accept_status" => "--status",
                other => other,
            };
            UsageError::new(option, e.message)
        })?;
        Ok(cfg)
    }

    /// Opens `--out` for appending (created if missing), or stdout.
    pub fn sink(&self) -> Result<Sink, UsageError> {
        match &self.out {
            None => Ok(Sink::Stdout),
            Some(path) => OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(|f: File| Sink::File(f))
                .map_err(|e| {
                    UsageError::new(
                        "--out",
                        format!("cannot open {} for appending: {e}", path.display()),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, UsageError> {
        parse_args(args.iter().map(OsString::from))
    }

    fn error_option(args: &[&str]) -> String {
        parse(args).unwrap_err().option
    }

    #[test]
    fn full_command_line_parses() {
        let cmd = parse(&[
            "--listen",
            "127.0.0.1:8080",
            "--key-file",
            "/k",
            "--out",
            "/o",
            "--status",
            "503",
            "-q",
        ]);
        assert_eq!(
            cmd,
            Ok(Command::Run(Options {
                listen: "127.0.0.1:8080".parse().unwrap(),
                key_file: Some("/k".into()),
                out: Some("/o".into()),
                status: 503,
                quiet: true,
            }))
        );
        let cmd = parse(&["--listen=[::1]:0"]).unwrap();
        assert!(matches!(
            cmd,
            Command::Run(Options {
                status: 200,
                quiet: false,
                ..
            })
        ));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(
            parse(&["--listen", "nonsense", "-h"]).unwrap_err().option,
            "--listen"
        );
    }

    #[test]
    fn each_bad_argument_names_its_option() {
        assert_eq!(error_option(&[]), "--listen");
        assert_eq!(error_option(&["--listen", "localhost"]), "--listen");
        assert_eq!(error_option(&["--listen"]), "--listen");
        assert_eq!(
            error_option(&["--listen", "127.0.0.1:1", "--status", "99"]),
            "--status"
        );
        assert_eq!(
            error_option(&["--listen", "127.0.0.1:1", "--status", "600"]),
            "--status"
        );
        assert_eq!(
            error_option(&["--listen", "127.0.0.1:1", "--status", "ok"]),
            "--status"
        );
        assert_eq!(
            error_option(&["--listen", "127.0.0.1:1", "--key", "secret"]),
            "--key"
        );
        assert_eq!(
            error_option(&["--listen", "127.0.0.1:1", "--bogus"]),
            "--bogus"
        );
        assert_eq!(error_option(&["--listen", "127.0.0.1:1", "extra"]), "extra");
        assert_eq!(
            error_option(&["--listen", "127.0.0.1:1", "--out", ""]),
            "--out"
        );
    }

    #[test]
    fn the_key_comes_from_the_file_first_then_the_environment() {
        let dir =
            std::env::temp_dir().join(format!("presenced-receiver-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key_path = dir.join("key");
        std::fs::write(&key_path, b"from-file\r\n").unwrap();
        let mut options = Options {
            listen: "127.0.0.1:0".parse().unwrap(),
            key_file: Some(key_path.clone()),
            out: None,
            status: 200,
            quiet: false,
        };
        assert_eq!(
            options
                .receiver_config(Some("from-env".into()))
                .unwrap()
                .key,
            b"from-file"
        );
        std::fs::write(&key_path, b"\n").unwrap();
        assert_eq!(
            options.receiver_config(None).unwrap_err().option,
            "--key-file"
        );
        options.key_file = Some(dir.join("missing"));
        assert_eq!(
            options.receiver_config(None).unwrap_err().option,
            "--key-file"
        );
        options.key_file = None;
        assert_eq!(
            options
                .receiver_config(Some("from-env".into()))
                .unwrap()
                .key,
            b"from-env"
        );
        assert_eq!(
            options.receiver_config(Some("".into())).unwrap_err().option,
            KEY_ENV
        );
        assert_eq!(
            options.receiver_config(None).unwrap_err().option,
            "--key-file"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
