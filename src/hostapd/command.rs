//! The control commands presenced sends, and what hostapd's replies mean.
//!
//! hostapd's replies to these commands are one of: an empty datagram (end of
//! the station list, or an empty list), `FAIL\n` (e.g. `STA-NEXT` for a MAC
//! it no longer knows), `UNKNOWN COMMAND\n`, or text. Commands are
//! case-sensitive.

use std::fmt;

use super::socket::{CtrlSocket, SocketError};
use crate::wire::mac::MacAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Ping,
    StaFirst,
    StaNext(MacAddr),
}

/// The exact bytes sent; hostapd accepts the MAC in lower case.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ping => f.write_str("PING"),
            Command::StaFirst => f.write_str("STA-FIRST"),
            Command::StaNext(mac) => write!(f, "STA-NEXT {mac}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Empty,
    Fail,
    UnknownCommand,
    Text(String),
}

/// Pure. Bytes that are not UTF-8 are replaced rather than refused: only the
/// MAC line and `flags=` matter, and both are ASCII when hostapd is sane.
pub fn classify(reply: &[u8]) -> Reply {
    let body = reply.strip_suffix(b"\n").unwrap_or(reply);
    if reply.is_empty() {
        Reply::Empty
    } else if body == b"FAIL" {
        Reply::Fail
    } else if body == b"UNKNOWN COMMAND" {
        Reply::UnknownCommand
    } else {
        Reply::Text(String::from_utf8_lossy(reply).into_owned())
    }
}

#[derive(Debug)]
pub enum CommandError {
    Socket(SocketError),
    Fail,
    UnknownCommand,
    Unexpected(String),
}

/// A short, escaped excerpt: replies can be 8 KiB of anything.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    let mut cut: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        cut.push('…');
    }
    format!("{cut:?}")
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Socket(e) => e.fmt(f),
            CommandError::Fail => f.write_str("hostapd answered FAIL"),
            CommandError::UnknownCommand => {
                f.write_str("answered UNKNOWN COMMAND (not a hostapd BSS control socket?)")
            }
            CommandError::Unexpected(text) => write!(f, "unexpected reply {}", excerpt(text)),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<SocketError> for CommandError {
    fn from(e: SocketError) -> Self {
        CommandError::Socket(e)
    }
}

/// Whatever carries a command to hostapd and brings one datagram back: the
/// real socket, or a script in tests of the walk.
pub trait Transport {
    fn request(&mut self, command: &Command) -> Result<Vec<u8>, SocketError>;
}

impl Transport for CtrlSocket {
    fn request(&mut self, command: &Command) -> Result<Vec<u8>, SocketError> {
        CtrlSocket::request(self, &command.to_string())
    }
}

/// `Ok` only for `PONG`: a cheap proof that a control socket answers.
pub fn ping(transport: &mut impl Transport) -> Result<(), CommandError> {
    match classify(&transport.request(&Command::Ping)?) {
        Reply::Text(t) if t.trim_end() == "PONG" => Ok(()),
        Reply::Text(t) => Err(CommandError::Unexpected(t)),
        Reply::Empty => Err(CommandError::Unexpected(String::new())),
        Reply::Fail => Err(CommandError::Fail),
        Reply::UnknownCommand => Err(CommandError::UnknownCommand),
    }
}

/// `STA-FIRST` or `STA-NEXT`: `Ok(None)` is the end of the list, `Ok(Some)`
/// one station's text, not yet parsed.
pub fn station(
    transport: &mut impl Transport,
    command: &Command,
) -> Result<Option<String>, CommandError> {
    station_reply(&transport.request(command)?)
}

/// Pure: what a reply to `STA-FIRST` or `STA-NEXT` means, for callers that
/// carry the datagrams themselves.
pub fn station_reply(reply: &[u8]) -> Result<Option<String>, CommandError> {
    match classify(reply) {
        Reply::Empty => Ok(None),
        Reply::Text(t) => Ok(Some(t)),
        Reply::Fail => Err(CommandError::Fail),
        Reply::UnknownCommand => Err(CommandError::UnknownCommand),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_spelled_as_hostapd_expects() {
        let mac: MacAddr = "02:00:00:00:AA:01".parse().unwrap();
        assert_eq!(Command::Ping.to_string(), "PING");
        assert_eq!(Command::StaFirst.to_string(), "STA-FIRST");
        assert_eq!(
            Command::StaNext(mac).to_string(),
            "STA-NEXT 02:00:00:00:aa:01"
        );
    }

    #[test]
    fn empty_datagram_is_the_end_of_the_list() {
        assert_eq!(classify(b""), Reply::Empty);
    }

    #[test]
    fn fail_with_and_without_newline() {
        assert_eq!(classify(b"FAIL\n"), Reply::Fail);
        assert_eq!(classify(b"FAIL"), Reply::Fail);
    }

    #[test]
    fn unknown_command() {
        assert_eq!(classify(b"UNKNOWN COMMAND\n"), Reply::UnknownCommand);
    }

    #[test]
    fn a_lone_newline_is_text_not_the_end_of_the_list() {
        // Only a zero-length datagram ends the list; the stations layer then
        // refuses "\n" for lacking a MAC.
        assert_eq!(classify(b"\n"), Reply::Text("\n".into()));
    }

    #[test]
    fn text_that_merely_starts_like_fail_is_text() {
        assert_eq!(classify(b"FAILED\n"), Reply::Text("FAILED\n".into()));
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        assert_eq!(
            classify(b"\xff\xfe\n"),
            Reply::Text("\u{fffd}\u{fffd}\n".into())
        );
    }

    #[test]
    fn excerpt_is_bounded_and_escaped() {
        let long = "x".repeat(500);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), 60 + 1 + 2);
        assert_eq!(excerpt("a\nb"), "\"a\\nb\"");
    }

    struct Scripted(Vec<&'static [u8]>);
    impl Transport for Scripted {
        fn request(&mut self, _: &Command) -> Result<Vec<u8>, SocketError> {
            Ok(self.0.remove(0).to_vec())
        }
    }

    #[test]
    fn ping_wants_pong() {
        assert!(ping(&mut Scripted(vec![b"PONG\n"])).is_ok());
        assert!(matches!(
            ping(&mut Scripted(vec![b"UNKNOWN COMMAND\n"])),
            Err(CommandError::UnknownCommand)
        ));
        assert!(matches!(
            ping(&mut Scripted(vec![b""])),
            Err(CommandError::Unexpected(_))
        ));
    }
}
