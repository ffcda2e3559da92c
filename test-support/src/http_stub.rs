//! An HTTP/1.1 endpoint that answers as a script says, for tests of a client
//! (presenced's POST, presenced-server's webhooks): the n-th request gets the
//! n-th [`Reply`] of the script, and every request is kept, head bytes
//! exactly as received, for the test to look at.
//!
//! One request per connection, answered with `Connection: close`. Every wait
//! is bounded: a client that stops sending mid-request is cut off after
//! [`READ_LIMIT`], a [`Reply::Hang`] lasts until the client closes, the stub
//! is dropped, or [`HANG_LIMIT`] (longer than any test waits, so that only
//! the client's own timeout ends it in a test).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest a request may take to arrive once its connection is open.
pub const READ_LIMIT: Duration = Duration::from_secs(20);
/// The longest a [`Reply::Hang`] holds its connection.
pub const HANG_LIMIT: Duration = Duration::from_secs(300);
/// How often the accept loop and hanging connections look at the stop flag.
const POLL: Duration = Duration::from_millis(10);

/// What the stub does with one request, once it has read it whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// This status, an empty body.
    Status(u16),
    /// Nothing: the connection stays open, unanswered.
    Hang,
    /// Closes the connection without an answer.
    Close,
}

/// One request as received: the head's exact text (request line, headers
/// and the blank line) and the body (`Content-Length` bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name (compared without case), value trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    arrived: Condvar,
    stop: AtomicBool,
}

/// The endpoint, on 127.0.0.1 and a free port; stopped on drop.
pub struct HttpStub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl HttpStub {
    /// Answers by `script`; after its end, every request gets 200.
    pub fn start(script: Vec<Reply>) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared::default());
        let for_thread = Arc::clone(&shared);
        let accept = thread::spawn(move || accept_loop(listener, script, &for_thread));
        HttpStub { addr, shared, accept: Some(accept) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests received so far, in the order they were read.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// Waits until `count` requests have arrived and returns them all; fails
    /// the test if they have not within `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Request> {
        let until = Instant::now() + timeout;
        let mut requests = lock(&self.shared.requests);
        while requests.len() < count {
            let left = until.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{} of {count} requests within {timeout:?}", requests.len());
            requests = self.shared.arrived.wait_timeout(requests, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        requests.clone()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(listener: TcpListener, script: Vec<Reply>, shared: &Arc<Shared>) {
    let mut connections = Vec::new();
    let mut next = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let reply = script.get(next).copied().unwrap_or(Reply::Status(200));
                next += 1;
                let shared = Arc::clone(shared);
                connections.push(thread::spawn(move || serve(stream, reply, &shared)));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(_) => thread::sleep(POLL),
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

fn serve(mut stream: TcpStream, reply: Reply, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let Some(request) = read_request(&mut stream) else { return };
    {
        lock(&shared.requests).push(request);
        shared.arrived.notify_all();
    }
    match reply {
        Reply::Status(code) => {
            let answer = format!("HTTP/1.1 {code} Stub\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes());
        }
        Reply::Close => {}
        Reply::Hang => hang(&mut stream, shared),
    }
}

/// Until the client closes (a read gives 0), the stub stops, or the bound.
fn hang(stream: &mut TcpStream, shared: &Shared) {
    let until = Instant::now() + HANG_LIMIT;
    let _ = stream.set_read_timeout(Some(POLL));
    let mut sink = [0u8; 256];
    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < until {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// The head up to its blank line and a `Content-Length` body, or `None` if
/// the client closed or stalled first.
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let until = Instant::now() + READ_LIMIT;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut read_more = |bytes: &mut Vec<u8>| -> Option<()> {
        let left = until.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                bytes.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    };
    let head_end = loop {
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(&mut bytes)?;
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let partial = Request { head, body: Vec::new() };
    let length: usize = partial.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while bytes.len() < head_end + length {
        read_more(&mut bytes)?;
    }
    Some(Request { body: bytes[head_end..head_end + length].to_vec(), ..partial })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        answer
    }

    #[test]
    fn each_request_gets_its_reply_in_turn_and_is_kept_exactly() {
        let stub = HttpStub::start(vec![Reply::Status(500), Reply::Close]);
        let post = b"POST /p?x=1 HTTP/1.1\r\nHost: h\r\nsignature: ab\r\nContent-Length: 5\r\n\r\nhello";
        assert!(exchange(stub.addr(), post).starts_with(b"HTTP/1.1 500 "));
        assert_eq!(exchange(stub.addr(), post), b"");
        assert!(exchange(stub.addr(), b"GET / HTTP/1.1\r\n\r\n").starts_with(b"HTTP/1.1 200 "));
        let got = stub.wait_for(3, Duration::from_secs(20));
        assert_eq!(got[0].head.as_bytes(), &post[..post.len() - 5]);
        assert_eq!(got[0].body, b"hello");
        assert_eq!(got[0].header("Signature"), Some("ab"));
        assert_eq!(got[2].header("content-length"), None);
    }

    #[test]
    fn a_hang_holds_the_connection_until_the_stub_is_dropped() {
        let stub = HttpStub::start(vec![Reply::Hang]);
        let mut s = TcpStream::connect(stub.addr()).unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
        stub.wait_for(1, Duration::from_secs(20));
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut byte = [0u8; 1];
        let e = s.read(&mut byte).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{e}");
        drop(stub);
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        assert_eq!(s.read(&mut byte).unwrap(), 0, "closed once the stub is gone");
    }
}
