//! The bytes of a report POST and of the answer's status line. Pure: no I/O.
//!
//! presenced writes its request head itself, byte for byte, because receivers
//! are not as forgiving as HTTP says they may be: PHP's `getallheaders()`, the
//! way the vendors' PHP examples read the signature, is keyed by the name as
//! sent, so `signature:` (what an HTTP library built on the `http` crate, ureq 3
//! among them, puts on the wire) is not `Signature` and every report fails its
//! check. Header names here are spelled as the documents spell them.
//!
//! The request is HTTP/1.1 with `Connection: close`: one report per connection
//! every Rate seconds needs no pool, and the answer's status line is all that
//! is read of it.

use std::fmt;
use std::net::IpAddr;

/// Where reports go, taken apart once at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Host name or IP address as connected to (no brackets for IPv6).
    pub host: String,
    pub port: u16,
    /// `Host` header value: the host as written in the URL, with the port
    /// only when it is not the scheme's default (RFC 9110 7.2).
    pub authority: String,
    /// Path and query as sent on the request line; `/` when the URL has none.
    pub path_and_query: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError(pub String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Target {
    /// Accepts `http://` and `https://` URLs with a host, an optional port, path
    /// and query. Refused, with the reason: other schemes, credentials in the
    /// URL (they would be sent in the clear in logs; not supported), an empty
    /// or bad host or port, characters that cannot appear on a request line.
    pub fn parse(url: &str) -> Result<Target, UrlError> {
        let bad = |why: &str| UrlError(format!("'{url}' {why}"));
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("contains spaces or control characters"));
        }
        let (https, rest) = if let Some(r) = strip_prefix_ignore_case(url, "http://") {
            (false, r)
        } else if let Some(r) = strip_prefix_ignore_case(url, "https://") {
            (true, r)
        } else {
            return Err(bad("must start with http:// or https://"));
        };
        // The fragment is never sent.
        let rest = rest.split('#').next().unwrap_or("");
        let (authority, path_and_query) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(bad("has credentials before the host, which presenced does not send"));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| bad("has an unclosed [ in its host"))?;
            let host = &v6[..end];
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("has a bad IPv6 address in [ ]"));
            }
            match &v6[end + 1..] {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(|| bad("has text after the ] of its host"))?)),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        if !authority.starts_with('[')
            && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(bad("has characters that cannot be in a host name"));
        }
        let port = match port_text {
            None | Some("") => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(bad("has a port that is not 1 to 65535")),
                Ok(n) => n,
            },
        };
        let host_in_header = if authority.starts_with('[') { format!("[{host}]") } else { host.to_string() };
        let authority = if port == default_port { host_in_header } else { format!("{host_in_header}:{port}") };
        Ok(Target { https, host: host.to_string(), port, authority, path_and_query })
    }

    /// The host as an IP address, when the URL names one (no DNS lookup then).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

pub const USER_AGENT: &str = concat!("presenced/", env!("CARGO_PKG_VERSION"));

/// The request head, CRLF-terminated, ready to be followed by the body.
pub fn request_head(target: &Target, body_len: usize, signature: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         User-Agent: {USER_AGENT}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {body_len}\r\n\
         Signature: {signature}\r\n\
         Connection: close\r\n\
         \r\n",
        path = target.path_and_query,
        host = target.authority,
    )
    .into_bytes()
}

/// The longest answer head presenced reads before it gives up on a server.
pub const MAX_ANSWER_HEAD: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The final status code.
    Status(u16),
    /// A complete head is not there yet.
    Incomplete,
}

/// Reads the status of the first final answer in `bytes`, skipping interim
/// (1xx) answers, which a server may send before any request it likes.
pub fn parse_answer(mut bytes: &[u8]) -> Result<Answer, String> {
    loop {
        let Some(end) = find(bytes, b"\r\n\r\n") else {
            if bytes.len() >= MAX_ANSWER_HEAD {
                return Err(format!("the answer's head is longer than {MAX_ANSWER_HEAD} bytes"));
            }
            return Ok(Answer::Incomplete);
        };
        let line_end = find(bytes, b"\r\n").unwrap_or(end);
        let status = status_code(&bytes[..line_end])?;
        if (100..200).contains(&status) && status != 101 {
            bytes = &bytes[end + 4..];
            continue;
        }
        return Ok(Answer::Status(status));
    }
}

fn status_code(line: &[u8]) -> Result<u16, String> {
    let shown = || String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or_else(|| format!("the server's answer is not HTTP/1.x: {:?}", shown()))?;
    match rest {
        [a @ b'1'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9', tail @ ..] if tail.is_empty() || tail[0] == b' ' => {
            Ok((a - b'0') as u16 * 100 + (b - b'0') as u16 * 10 + (c - b'0') as u16)
        }
        _ => Err(format!("the server's status line is malformed: {:?}", shown())),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn urls_are_taken_apart_as_rfc_3986_reads_them() {
        let t = target("http://example.com/presence");
        assert_eq!((t.https, t.host.as_str(), t.port), (false, "example.com", 80));
        assert_eq!((t.authority.as_str(), t.path_and_query.as_str()), ("example.com", "/presence"));
        let t = target("https://Example.COM:8443/a/b?x=1&y=2#frag");
        assert_eq!((t.https, t.port, t.authority.as_str()), (true, 8443, "Example.COM:8443"));
        assert_eq!(t.path_and_query, "/a/b?x=1&y=2");
        // A default port written out is not repeated in Host.
        assert_eq!(target("https://h:443/").authority, "h");
        assert_eq!(target("http://h:80").path_and_query, "/");
        assert_eq!(target("http://h?q=1").path_and_query, "/?q=1");
        let t = target("http://[::1]:8080/p");
        assert_eq!((t.host.as_str(), t.port, t.authority.as_str()), ("::1", 8080, "[::1]:8080"));
        assert_eq!(t.ip(), Some("::1".parse().unwrap()));
        assert_eq!(target("HTTP://127.0.0.1/").ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(target("http://localhost/").ip(), None);
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (url, why) in [
            ("ftp://h/", "must start with http"),
            ("h/presence", "must start with http"),
            ("http://", "no host"),
            ("http:///p", "no host"),
            ("http://:80/", "no host"),
            ("http://h:0/", "port"),
            ("http://h:65536/", "port"),
            ("http://h:x/", "port"),
            ("http://user:pw@h/", "credentials"),
            ("http://h/a b", "spaces"),
            ("http://h/\r\nX: y", "control"),
            ("http://[::1/", "unclosed"),
            ("http://[zz]/", "IPv6"),
            ("http://[::1]x/", "after the ]"),
            ("http://h%41/", "host name"),
        ] {
            let e = Target::parse(url).expect_err(url);
            assert!(e.0.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn the_head_spells_every_name_as_the_documents_do() {
        let t = target("http://192.0.2.1:8080/report?site=3");
        let head = String::from_utf8(request_head(&t, 42, "ab12")).unwrap();
        let expected = format!(
            "POST /report?site=3 HTTP/1.1\r\nHost: 192.0.2.1:8080\r\nUser-Agent: presenced/{}\r\n\
             Content-Type: application/json\r\nContent-Length: 42\r\nSignature: ab12\r\n\
             Connection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(head, expected);
    }

    #[test]
    fn the_status_of_the_final_answer_is_read() {
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"), Ok(Answer::Status(200)));
        assert_eq!(parse_answer(b"HTTP/1.0 503 Busy\r\n\r\n"), Ok(Answer::Status(503)));
        // No reason phrase at all is allowed (RFC 9112 4).
        assert_eq!(parse_answer(b"HTTP/1.1 204\r\n\r\n"), Ok(Answer::Status(204)));
        assert_eq!(
            parse_answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n"),
            Ok(Answer::Status(201))
        );
        assert_eq!(parse_answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2"), Ok(Answer::Incomplete));
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\n"), Ok(Answer::Incomplete));
        assert_eq!(parse_answer(b""), Ok(Answer::Incomplete));
    }

    #[test]
    fn garbage_answers_are_errors_that_quote_the_server() {
        for (answer, why) in [
            (&b"SSH-2.0-OpenSSH\r\n\r\n"[..], "not HTTP/1.x"),
            (b"HTTP/2 200\r\n\r\n", "not HTTP/1.x"),
            (b"HTTP/1.1 20\r\n\r\n", "malformed"),
            (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed"),
            (b"HTTP/1.1 600 OK\r\n\r\n", "malformed"),
            (b"HTTP/1.1 abc\r\n\r\n", "malformed"),
        ] {
            let e = parse_answer(answer).expect_err(&String::from_utf8_lossy(answer));
            assert!(e.contains(why), "{e}");
        }
        let endless = vec![b'x'; MAX_ANSWER_HEAD];
        assert!(parse_answer(&endless).unwrap_err().contains("longer than"));
    }
}
