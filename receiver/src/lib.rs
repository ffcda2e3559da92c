//! `presenced-receiver`: the other end of a report POST, for laptops and tests.
//!
//! A deliberately small HTTP/1.1 server on `std::net`: one thread per
//! connection (bounded by [`ReceiverConfig::max_connections`]), requests framed
//! by `Content-Length` or `chunked`, keep-alive as HTTP/1.1 defines it. It only
//! has to understand the daemon's POST and a hand-typed `curl`, so it answers
//! anything else with a status and, where the framing is no longer known, closes
//! the connection instead of guessing.
//!
//! Every read runs against a deadline: the first byte of a request must arrive
//! within [`ReceiverConfig::idle_timeout`] and the whole request (head and body)
//! within [`ReceiverConfig::request_timeout`] of its first byte, so a client that
//! trickles one byte at a time cannot hold a thread forever.
//!
//! Order of the checks, which is also the order of the answers: framing and size
//! (400, 408, 411, 413, 431, 501, 505), method (405), `Signature` (403: checked
//! before the body is parsed, so nothing unauthenticated reaches the JSON
//! parser), then the body as a [`Report`] (400). An accepted report goes to the
//! [`Sink`] and is answered with [`ReceiverConfig::accept_status`] (200 unless a
//! test wants to see how the daemon takes a failure); if the sink cannot store
//! it the answer is 500, so the sender never believes a lost report arrived.
//!
//! Why a server of its own beside `presenced-server`: it needs only `std`, so
//! it builds for the access point and for the agent's tests without tokio or a
//! database. What a report is and how it is signed are not its own: both come
//! from `presenced_report` (`Report::from_body`, `verify_signature`), as for
//! the server.

pub mod cli;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use presenced_report::{verify_signature, Report};

/// 16 MiB: a report of the default 10000 clients is about 2 MiB, so this leaves
/// room for a larger `--max-clients` without letting a client exhaust memory.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;
/// Request line plus headers; the daemon sends a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;
/// A chunk-size line is a hex number and optional extensions.
const MAX_CHUNK_LINE: usize = 4096;
/// After answering with `Connection: close`, unread request bytes are drained
/// for a moment: closing a socket with unread input makes Linux send a reset,
/// which can destroy the answer before the client reads it.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_MAX_BYTES: usize = 1024 * 1024;
/// `std` cannot interrupt a blocking `accept`, so the listener is non-blocking
/// and polled; this is the longest a stop request or a new connection waits.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// What the server needs besides the socket. Build with [`ReceiverConfig::new`]
/// and adjust fields; [`serve`] and [`Receiver::start`] call [`validate`](Self::validate).
#[derive(Clone)]
pub struct ReceiverConfig {
    /// The shared Key the `Signature` header is checked against.
    pub key: Vec<u8>,
    /// The answer to an accepted report: 200, or another code to test how the
    /// sender handles a failure (the report is still emitted).
    pub accept_status: u16,
    pub max_body: usize,
    /// From the first byte of a request to the end of its body.
    pub request_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request: long
    /// enough for a client that pools connections (a hand-typed `curl` with
    /// several URLs, a test) to retire them itself, so a reused connection
    /// is not closed under a request. presenced closes after each POST.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// One line per request on stderr.
    pub log_requests: bool,
}

impl fmt::Debug for ReceiverConfig {
    // By hand so that the key never reaches a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .field("accept_status", &self.accept_status)
            .field("max_body", &self.max_body)
            .field("request_timeout", &self.request_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("log_requests", &self.log_requests)
            .finish()
    }
}

/// A configuration value that cannot work; `field` names the struct field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfigError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for ReceiverConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ReceiverConfigError {}

impl ReceiverConfig {
    pub fn new(key: Vec<u8>) -> ReceiverConfig {
        ReceiverConfig {
            key,
            accept_status: 200,
            max_body: DEFAULT_MAX_BODY,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 64,
            log_requests: true,
        }
    }

    pub fn validate(&self) -> Result<(), ReceiverConfigError> {
        let err = |field, message: &str| {
            Err(ReceiverConfigError {
                field,
                message: message.to_string(),
            })
        };
        if self.key.is_empty() {
            // An empty key would make every signature computable by anyone.
            return err("key", "the key is empty");
        }
        if !(200..=599).contains(&self.accept_status) {
            // 1xx are interim answers: a client would keep waiting for a final one.
            return err("accept_status", "must be a final HTTP status, 200 to 599");
        }
        if self.max_body == 0 {
            return err("max_body", "must be at least 1 byte");
        }
        if self.request_timeout.is_zero() {
            return err("request_timeout", "must be longer than zero");
        }
        if self.idle_timeout.is_zero() {
            return err("idle_timeout", "must be longer than zero");
        }
        if self.max_connections == 0 {
            return err("max_connections", "must be at least 1");
        }
        Ok(())
    }
}

/// Outcome of the `Signature` check, as logged and as reported to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The request was answered before the signature was looked at.
    NotChecked,
    Missing,
    Bad,
    Ok,
}

impl fmt::Display for SignatureCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureCheck::NotChecked => "-",
            SignatureCheck::Missing => "missing",
            SignatureCheck::Bad => "bad",
            SignatureCheck::Ok => "ok",
        })
    }
}

/// One request and its answer, as a test sees it through [`Sink::Channel`].
#[derive(Debug, Clone)]
pub struct Exchange {
    pub peer: SocketAddr,
    /// `-` when the request line itself could not be read.
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The body as received (empty when it was not read).
    pub body: Vec<u8>,
    /// The `Signature` header value as sent, if any.
    pub signature_header: Option<String>,
    pub signature: SignatureCheck,
    /// Present exactly when the report was accepted.
    pub report: Option<Report>,
}

/// Where accepted reports go.
pub enum Sink {
    /// One JSON line per accepted report on stdout, flushed at once.
    Stdout,
    /// One JSON line per accepted report appended to the file, flushed at once.
    File(File),
    /// Every exchange, accepted or not: lets an in-process test assert on
    /// rejections too. A dropped receiving end is ignored.
    Channel(mpsc::Sender<Exchange>),
}

enum SinkState {
    Stdout,
    File(Mutex<File>),
    Channel(Mutex<mpsc::Sender<Exchange>>),
}

impl SinkState {
    fn new(sink: Sink) -> SinkState {
        match sink {
            Sink::Stdout => SinkState::Stdout,
            Sink::File(f) => SinkState::File(Mutex::new(f)),
            Sink::Channel(tx) => SinkState::Channel(Mutex::new(tx)),
        }
    }

    /// Stores an accepted report; only a failure here turns the answer into 500.
    fn store(&self, body: &[u8], report: &Report) -> io::Result<()> {
        let mut line = report_line(body, report);
        line.push(b'\n');
        match self {
            SinkState::Stdout => {
                // One write under the lock keeps lines from concurrent
                // connections whole.
                let mut out = io::stdout().lock();
                out.write_all(&line)?;
                out.flush()
            }
            SinkState::File(file) => {
                let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                file.write_all(&line)?;
                file.flush()
            }
            SinkState::Channel(_) => Ok(()),
        }
    }

    fn observe(&self, exchange: Exchange) {
        if let SinkState::Channel(tx) = self {
            let tx = tx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let _ = tx.send(exchange);
        }
    }
}

/// The body exactly as sent when it is already one line (so a test can compare
/// bytes and signature); a valid report spread over several lines is printed in
/// its compact form instead, which loses nothing because the report has no
/// field that `Report` does not keep.
pub fn report_line(body: &[u8], report: &Report) -> Vec<u8> {
    if body.contains(&b'\n') || body.contains(&b'\r') {
        report.to_body()
    } else {
        body.to_vec()
    }
}

struct Shared {
    cfg: ReceiverConfig,
    sink: SinkState,
    stop: AtomicBool,
    /// Clones of the live connections, so that stopping can shut them down:
    /// otherwise a kept-alive connection would go on being served by a
    /// receiver that is supposed to be down.
    connections: Mutex<HashMap<usize, TcpStream>>,
    // usize, not u64: 32-bit MIPS has no 64-bit atomics.
    next_id: AtomicUsize,
    stderr_lock: Mutex<()>,
}

/// Serves until the process ends; the binary's entry point.
pub fn serve(listener: TcpListener, cfg: ReceiverConfig, sink: Sink) -> io::Result<()> {
    let shared = prepare(&listener, cfg, sink)?;
    accept_loop(listener, &shared);
    Ok(())
}

/// A receiver running on its own thread, stopped by [`stop`](Self::stop) or on drop.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts serving `listener` (bind it to port 0 and read
    /// [`local_addr`](Self::local_addr) to avoid port clashes between tests).
    pub fn start(listener: TcpListener, cfg: ReceiverConfig, sink: Sink) -> io::Result<Receiver> {
        let addr = listener.local_addr()?;
        let shared = prepare(&listener, cfg, sink)?;
        let for_thread = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("receiver-accept".into())
            .spawn(move || accept_loop(listener, &for_thread))?;
        Ok(Receiver {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listening socket and every open connection and waits for
    /// their threads, so that once this returns nothing more reaches the sink
    /// and the port can be bound again (to bring the receiver "back").
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn prepare(listener: &TcpListener, cfg: ReceiverConfig, sink: Sink) -> io::Result<Arc<Shared>> {
    cfg.validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    listener.set_nonblocking(true)?;
    Ok(Arc::new(Shared {
        cfg,
        sink: SinkState::new(sink),
        stop: AtomicBool::new(false),
        connections: Mutex::new(HashMap::new()),
        next_id: AtomicUsize::new(0),
        stderr_lock: Mutex::new(()),
    }))
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(e) => {
                // Typically EMFILE or ECONNABORTED: transient, so keep serving,
                // but pause so an exhausted fd table does not spin the CPU.
                shared.log(&format!("accept failed: {e}"));
                thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        workers.retain(|w| !w.is_finished());
        if workers.len() >= shared.cfg.max_connections {
            refuse_busy(stream, peer, shared);
            continue;
        }
        // Accepted sockets are blocking on Linux, but that is not a documented
        // guarantee of `accept`, and every read below relies on it.
        if stream.set_nonblocking(false).is_err() || stream.set_nodelay(true).is_err() {
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        match stream.try_clone() {
            Ok(clone) => {
                lock(&shared.connections).insert(id, clone);
            }
            // Without a clone stop could not reach this connection.
            Err(_) => continue,
        }
        let for_thread = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("receiver-conn".into())
            .spawn(move || {
                serve_connection(stream, peer, &for_thread);
                lock(&for_thread.connections).remove(&id);
            });
        match spawned {
            Ok(handle) => workers.push(handle),
            Err(e) => {
                shared.log(&format!("cannot start a thread for {peer}: {e}"));
                if let Some(stream) = lock(&shared.connections).remove(&id) {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
        }
    }
    drop(listener);
    for stream in lock(&shared.connections).values() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for worker in workers {
        let _ = worker.join();
    }
}

fn refuse_busy(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let response = Response::new(503, "too many connections\n").close();
    let _ = stream.write_all(&response.to_bytes());
    shared.log(&format!("{peer} - - 503 0 bytes signature -"));
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not take the server down with it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn log(&self, line: &str) {
        if self.cfg.log_requests {
            let _guard = lock(&self.stderr_lock);
            eprintln!("presenced-receiver: {line}");
        }
    }
}

// ---------------------------------------------------------------------------
// One connection

/// Why reading a request stopped short.
enum ReadError {
    /// The peer closed (or reset) the connection.
    Closed,
    Timeout,
    /// Any other socket error; the connection is unusable.
    Io,
}

struct Conn {
    stream: TcpStream,
    /// Received bytes not yet consumed (the start of a pipelined request, say).
    buf: Vec<u8>,
}

impl Conn {
    /// Appends whatever the socket has, waiting until `deadline` at most.
    fn fill(&mut self, deadline: Instant) -> Result<(), ReadError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ReadError::Timeout);
        }
        self.stream
            .set_read_timeout(Some(remaining))
            .map_err(|_| ReadError::Io)?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ReadError::Timeout)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    return Err(ReadError::Closed)
                }
                Err(_) => return Err(ReadError::Io),
            }
        }
    }

    /// Removes and returns the first `n` buffered bytes, reading more as needed.
    fn take(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, ReadError> {
        while self.buf.len() < n {
            self.fill(deadline)?;
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// Removes one line (without its line ending) of at most `max` bytes.
    fn take_line(&mut self, max: usize, deadline: Instant) -> Result<Option<Vec<u8>>, ReadError> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line = self.take(nl + 1, deadline)?;
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.buf.len() > max {
                return Ok(None);
            }
            self.fill(deadline)?;
        }
    }

    fn send(&mut self, response: &Response, timeout: Duration) -> bool {
        let _ = self.stream.set_write_timeout(Some(timeout));
        self.stream.write_all(&response.to_bytes()).is_ok() && self.stream.flush().is_ok()
    }

    /// Half-closes and drains what the client still sends (see [`LINGER`]).
    fn close_gracefully(mut self) {
        let _ = self.stream.flush();
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER;
        let mut drained = 0;
        while drained < LINGER_MAX_BYTES {
            self.buf.clear();
            if self.fill(deadline).is_err() {
                break;
            }
            drained += self.buf.len();
        }
    }
}

fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let (exchange, response) = match serve_request(&mut conn, peer, shared) {
            Some(pair) => pair,
            // Closed between requests, or silent for the whole idle time.
            None => return,
        };
        shared.log(&format!(
            "{peer} {} {} {} {} bytes signature {}",
            printable(&exchange.method),
            printable(&exchange.path),
            exchange.status,
            exchange.body.len(),
            exchange.signature
        ));
        shared.sink.observe(exchange);
        let written = conn.send(&response, shared.cfg.request_timeout);
        if !written {
            return;
        }
        if response.close {
            conn.close_gracefully();
            return;
        }
    }
}

/// Reads one request and decides the answer; `None` when there is nobody to
/// answer (the client went away before sending a request).
fn serve_request(
    conn: &mut Conn,
    peer: SocketAddr,
    shared: &Shared,
) -> Option<(Exchange, Response)> {
    let cfg = &shared.cfg;
    let mut exchange = Exchange {
        peer,
        method: "-".into(),
        path: "-".into(),
        status: 0,
        body: Vec::new(),
        signature_header: None,
        signature: SignatureCheck::NotChecked,
        report: None,
    };
    let finish = |mut exchange: Exchange, response: Response| {
        exchange.status = response.status;
        Some((exchange, response))
    };

    // Empty lines before a request are allowed (RFC 9112 section 2.2), and
    // some clients send a stray CRLF after a body.
    let idle_deadline = Instant::now() + cfg.idle_timeout;
    loop {
        let start = conn.buf.iter().position(|&b| b != b'\r' && b != b'\n');
        match start {
            Some(i) => {
                conn.buf.drain(..i);
                break;
            }
            None => {
                conn.buf.clear();
                if conn.fill(idle_deadline).is_err() {
                    return None;
                }
            }
        }
    }

    let deadline = Instant::now() + cfg.request_timeout;
    let head_end = loop {
        if let Some(end) = find_head_end(&conn.buf) {
            break end;
        }
        if conn.buf.len() > MAX_HEAD {
            return finish(
                exchange,
                Response::new(431, "request head too large\n").close(),
            );
        }
        match conn.fill(deadline) {
            Ok(()) => {}
            Err(ReadError::Timeout) => {
                return finish(
                    exchange,
                    Response::new(408, "request head not received in time\n").close(),
                )
            }
            Err(ReadError::Closed) => {
                return finish(
                    exchange,
                    Response::new(400, "connection closed inside the request head\n").close(),
                )
            }
            Err(ReadError::Io) => return None,
        }
    };
    if head_end > MAX_HEAD {
        return finish(
            exchange,
            Response::new(431, "request head too large\n").close(),
        );
    }
    let head_bytes: Vec<u8> = conn.buf.drain(..head_end).collect();
    let head = match parse_head(&head_bytes) {
        Ok(head) => head,
        Err(bad) => return finish(exchange, bad.close()),
    };
    exchange.method = head.method.clone();
    exchange.path = head.target.clone();
    let keep_alive = head.keep_alive();

    let framing = match head.framing() {
        Ok(framing) => framing,
        Err(bad) => return finish(exchange, bad.close()),
    };

    if head.method != "POST" {
        let response = Response::new(405, "only POST is accepted\n").allow_post();
        // The body's end is not worth finding for a request we refuse anyway.
        let response = if keep_alive && framing == Framing::Empty {
            response
        } else {
            response.close()
        };
        return finish(exchange, response);
    }
    if framing == Framing::Empty && head.header("content-length").is_none() {
        return finish(
            exchange,
            Response::new(411, "a POST needs Content-Length or chunked encoding\n").close(),
        );
    }
    if let Framing::Length(n) = framing {
        if n > cfg.max_body as u64 {
            let text = format!("body larger than {} bytes\n", cfg.max_body);
            return finish(exchange, Response::new(413, &text).close());
        }
    }
    if head.expects_continue() {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        let _ = conn.stream.set_write_timeout(Some(cfg.request_timeout));
        if conn.stream.write_all(interim).is_err() {
            return None;
        }
    }

    let body = match read_body(conn, framing, cfg.max_body, deadline) {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let text = format!("body larger than {} bytes\n", cfg.max_body);
            return finish(exchange, Response::new(413, &text).close());
        }
        Err(BodyError::Malformed(why)) => return finish(exchange, Response::new(400, why).close()),
        Err(BodyError::Read(ReadError::Timeout)) => {
            return finish(
                exchange,
                Response::new(408, "request body not received in time\n").close(),
            )
        }
        Err(BodyError::Read(ReadError::Closed)) => {
            return finish(
                exchange,
                Response::new(400, "connection closed inside the request body\n").close(),
            )
        }
        Err(BodyError::Read(ReadError::Io)) => return None,
    };
    exchange.body = body;

    let response = judge(&mut exchange, &head, shared);
    let response = if keep_alive {
        response
    } else {
        response.close()
    };
    finish(exchange, response)
}

/// Signature first, then shape, then the sink.
fn judge(exchange: &mut Exchange, head: &Head, shared: &Shared) -> Response {
    let signatures: Vec<&str> = head.headers_named("signature").collect();
    let header = match signatures.as_slice() {
        [] => {
            exchange.signature = SignatureCheck::Missing;
            return Response::new(403, "missing Signature header\n");
        }
        [one] => *one,
        // Which one would the sender mean? Refuse rather than pick.
        _ => {
            exchange.signature = SignatureCheck::Bad;
            return Response::new(403, "more than one Signature header\n");
        }
    };
    exchange.signature_header = Some(header.to_string());
    if !verify_signature(&shared.cfg.key, &exchange.body, header) {
        exchange.signature = SignatureCheck::Bad;
        return Response::new(403, "Signature does not match the body\n");
    }
    exchange.signature = SignatureCheck::Ok;

    // The server's parse and checks, not a second copy: what one side takes,
    // the other does.
    let report = match Report::from_body(&exchange.body) {
        Ok(report) => report,
        Err(e) => {
            let text = format!("body is not a report: {e}\n");
            return Response::new(400, &text);
        }
    };
    if let Err(e) = shared.sink.store(&exchange.body, &report) {
        shared.log(&format!("cannot store a report: {e}"));
        return Response::new(500, "the report could not be stored\n");
    }
    exchange.report = Some(report);
    let status = shared.cfg.accept_status;
    Response::new(
        status,
        if status < 300 {
            "report accepted\n"
        } else {
            "report received, answering as configured\n"
        },
    )
}

/// Control characters in a logged path could rewrite the terminal.
fn printable(s: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------
// HTTP/1.1 head and body

/// Index just past the blank line that ends the head. Bare LF line endings are
/// accepted as RFC 9112 section 2.2 allows.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

struct Head {
    method: String,
    target: String,
    http10: bool,
    /// Names lower-cased: header names are case-insensitive.
    headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

impl Head {
    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.headers_named(name).next()
    }

    /// Comma-separated tokens of every header of that name, lower-cased.
    fn tokens(&self, name: &str) -> Vec<String> {
        self.headers_named(name)
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    fn keep_alive(&self) -> bool {
        let connection = self.tokens("connection");
        if connection.iter().any(|t| t == "close") {
            return false;
        }
        !self.http10 || connection.iter().any(|t| t == "keep-alive")
    }

    fn expects_continue(&self) -> bool {
        !self.http10 && self.tokens("expect").iter().any(|t| t == "100-continue")
    }

    fn framing(&self) -> Result<Framing, Response> {
        let codings = self.tokens("transfer-encoding");
        let lengths: Vec<&str> = self.headers_named("content-length").collect();
        if !codings.is_empty() {
            if !lengths.is_empty() {
                // Both framings at once is the shape of request smuggling
                // (RFC 9112 section 6.3): refuse instead of choosing one.
                return Err(Response::new(
                    400,
                    "both Transfer-Encoding and Content-Length\n",
                ));
            }
            if codings.len() == 1 && codings[0] == "chunked" {
                return Ok(Framing::Chunked);
            }
            return Err(Response::new(
                501,
                "only the chunked transfer coding is supported\n",
            ));
        }
        let mut length: Option<u64> = None;
        for value in lengths.iter().flat_map(|v| v.split(',')) {
            let value = value.trim();
            let parsed = if !value.is_empty()
                && value.len() <= 19
                && value.bytes().all(|b| b.is_ascii_digit())
            {
                value.parse::<u64>().ok()
            } else {
                None
            };
            match (parsed, length) {
                (None, _) => return Err(Response::new(400, "Content-Length is not a number\n")),
                (Some(n), Some(m)) if n != m => {
                    return Err(Response::new(400, "conflicting Content-Length values\n"))
                }
                (Some(n), _) => length = Some(n),
            }
        }
        Ok(match length {
            None | Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
        })
    }
}

fn parse_head(bytes: &[u8]) -> Result<Head, Response> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Response::new(400, "request head is not UTF-8\n"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Response::new(400, "malformed request line\n"));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) || target.is_empty() {
        return Err(Response::new(400, "malformed request line\n"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        v if v.starts_with("HTTP/") => {
            return Err(Response::new(505, "only HTTP/1.0 and HTTP/1.1\n"))
        }
        _ => return Err(Response::new(400, "malformed request line\n")),
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding: RFC 9112 section 5.2 lets a server refuse it.
            return Err(Response::new(400, "folded header lines are not accepted\n"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Response::new(400, "header line without a colon\n"));
        };
        // No space before the colon either (RFC 9112 section 5.1).
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(Response::new(400, "malformed header name\n"));
        }
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        http10,
        headers,
    })
}

/// RFC 9110 section 5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

enum BodyError {
    TooLarge,
    Malformed(&'static str),
    Read(ReadError),
}

impl From<ReadError> for BodyError {
    fn from(e: ReadError) -> Self {
        BodyError::Read(e)
    }
}

fn read_body(
    conn: &mut Conn,
    framing: Framing,
    max: usize,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    match framing {
        Framing::Empty => Ok(Vec::new()),
        Framing::Length(n) => {
            // `n <= max` was checked before the 100 Continue, so it fits usize.
            let n = usize::try_from(n).map_err(|_| BodyError::TooLarge)?;
            Ok(conn.take(n, deadline)?)
        }
        Framing::Chunked => read_chunked(conn, max, deadline),
    }
}

/// RFC 9112 section 7.1; extensions and trailers are read and ignored.
fn read_chunked(conn: &mut Conn, max: usize, deadline: Instant) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        let line = conn
            .take_line(MAX_CHUNK_LINE, deadline)?
            .ok_or(BodyError::Malformed("chunk size line too long\n"))?;
        let size_text = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let size_text = std::str::from_utf8(size_text)
            .map_err(|_| BodyError::Malformed("bad chunk size\n"))?
            .trim();
        if size_text.is_empty()
            || size_text.len() > 15
            || !size_text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(BodyError::Malformed("bad chunk size\n"));
        }
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| BodyError::Malformed("bad chunk size\n"))?;
        if size == 0 {
            break;
        }
        if body.len().saturating_add(size) > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&conn.take(size, deadline)?);
        let end = conn.take_line(2, deadline)?;
        if end.as_deref() != Some(&[][..]) {
            return Err(BodyError::Malformed("chunk data not followed by CRLF\n"));
        }
    }
    let mut trailer_bytes = 0usize;
    loop {
        let line = conn
            .take_line(MAX_HEAD, deadline)?
            .ok_or(BodyError::Malformed("trailer line too long\n"))?;
        if line.is_empty() {
            return Ok(body);
        }
        trailer_bytes += line.len();
        if trailer_bytes > MAX_HEAD {
            return Err(BodyError::Malformed("trailers too large\n"));
        }
    }
}

struct Response {
    status: u16,
    text: String,
    close: bool,
    allow_post: bool,
}

impl Response {
    fn new(status: u16, text: &str) -> Response {
        Response {
            status,
            text: text.to_string(),
            close: false,
            allow_post: false,
        }
    }

    fn close(mut self) -> Response {
        self.close = true;
        self
    }

    fn allow_post(mut self) -> Response {
        self.allow_post = true;
        self
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n",
            self.status,
            reason(self.status),
            self.text.len(),
            if self.close { "close" } else { "keep-alive" }
        );
        if self.allow_post {
            out.push_str("Allow: POST\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&self.text);
        out.into_bytes()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        // The reason phrase is optional text; clients read the code.
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, u16> {
        parse_head(text.as_bytes()).map_err(|r| r.status)
    }

    #[test]
    fn head_end_is_found_with_crlf_and_with_bare_lf() {
        // Request line 15 + 2, header line 4 + 2, blank line 2.
        assert_eq!(
            find_head_end(b"POST / HTTP/1.1\r\nA: b\r\n\r\nBODY"),
            Some(25)
        );
        assert_eq!(find_head_end(b"POST / HTTP/1.1\nA: b\n\nBODY"), Some(22));
        assert_eq!(find_head_end(b"POST / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn header_names_are_case_insensitive_and_values_trimmed() {
        let h = head("POST /r HTTP/1.1\r\nSIGNATURE:  ab \r\ncontent-LENGTH: 12\r\n\r\n").unwrap();
        assert_eq!(h.header("signature"), Some("ab"));
        assert_eq!(h.framing().ok(), Some(Framing::Length(12)));
    }

    #[test]
    fn malformed_heads_get_the_right_status() {
        assert_eq!(head("POST /\r\n\r\n").err(), Some(400));
        assert_eq!(head("POST  / HTTP/1.1\r\n\r\n").err(), Some(400));
        assert_eq!(head("POST / HTTP/2.0\r\n\r\n").err(), Some(505));
        assert_eq!(head("POST / HTTP/1.1\r\nNo colon\r\n\r\n").err(), Some(400));
        assert_eq!(head("POST / HTTP/1.1\r\nName : v\r\n\r\n").err(), Some(400));
        assert_eq!(
            head("POST / HTTP/1.1\r\nA: b\r\n c\r\n\r\n").err(),
            Some(400)
        );
        assert_eq!(head("PO\u{7f}ST / HTTP/1.1\r\n\r\n").err(), Some(400));
    }

    #[test]
    fn framing_rejects_ambiguity() {
        let status = |text: &str| head(text).unwrap().framing().map_err(|r| r.status);
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(501)
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
    }

    #[test]
    fn keep_alive_follows_the_http_version_defaults() {
        assert!(head("POST / HTTP/1.1\r\n\r\n").unwrap().keep_alive());
        assert!(!head("POST / HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap()
            .keep_alive());
        assert!(!head("POST / HTTP/1.0\r\n\r\n").unwrap().keep_alive());
        assert!(head("POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .keep_alive());
    }

    #[test]
    fn config_validation_names_the_field() {
        let ok = ReceiverConfig::new(b"k".to_vec());
        assert_eq!(ok.validate(), Ok(()));
        let field = |cfg: ReceiverConfig| cfg.validate().unwrap_err().field;
        assert_eq!(field(ReceiverConfig::new(Vec::new())), "key");
        assert_eq!(
            field(ReceiverConfig {
                accept_status: 100,
                ..ok.clone()
            }),
            "accept_status"
        );
        assert_eq!(
            field(ReceiverConfig {
                accept_status: 600,
                ..ok.clone()
            }),
            "accept_status"
        );
        assert_eq!(
            field(ReceiverConfig {
                max_body: 0,
                ..ok.clone()
            }),
            "max_body"
        );
        assert_eq!(
            field(ReceiverConfig {
                request_timeout: Duration::ZERO,
                ..ok.clone()
            }),
            "request_timeout"
        );
        assert_eq!(
            field(ReceiverConfig {
                idle_timeout: Duration::ZERO,
                ..ok.clone()
            }),
            "idle_timeout"
        );
        assert_eq!(
            field(ReceiverConfig {
                max_connections: 0,
                ..ok
            }),
            "max_connections"
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        let text = format!("{:?}", ReceiverConfig::new(b"secret-key".to_vec()));
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("<10 bytes>"), "{text}");
    }

    #[test]
    fn a_multi_line_body_is_printed_compact() {
        let body = b"{\"network_id\":1,\n\"node_mac\":\"02:00:00:00:00:01\",\"version\":1,\"probe_requests\":[]}";
        let report: Report = serde_json::from_slice(body).unwrap();
        assert_eq!(
            report_line(body, &report),
            br#"{"network_id":1,"node_mac":"02:00:00:00:00:01","version":1,"probe_requests":[]}"#
        );
        let one_line =
            br#"{"network_id":1, "node_mac":"02:00:00:00:00:01","version":1,"probe_requests":[]}"#;
        assert_eq!(report_line(one_line, &report), one_line);
    }

    #[test]
    fn printable_masks_control_characters() {
        assert_eq!(printable("/a\u{1b}[2Jb"), "/a?[2Jb");
    }
}
