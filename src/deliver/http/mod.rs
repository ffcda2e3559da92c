//! Sending one report: an HTTP(S) POST with the `Signature` header.
//!
//! The request head is written here, not by an HTTP library (see `request`
//! for why), over `std::net` and, for https, rustls with the ring provider:
//! the same TLS stack as before, without ureq. Every step runs against one
//! deadline: name lookup, connect, TLS handshake, sending and the answer's
//! head. The deadline is the POST's own timeout or, once a stop signal has
//! set it, the shutdown cut-off, whichever comes first; waits are cut into
//! slices so that a cut-off set during a wait is noticed within one slice.
//!
//! Proxy variables (`HTTP_PROXY`, `ALL_PROXY`, ...) are not honoured: an
//! access point posts to its server directly, and a proxy picked up from an
//! environment nobody looks at on a router would be a silent surprise. The
//! start-up log says so when one is set.

pub mod request;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::deliver::report::Signer;
pub use request::{Target, UrlError};
use request::{parse_answer, request_head, Answer};

/// The POST of one report, as its log line describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// 2xx.
    Accepted(u16),
    /// Any other status: the batch is dropped.
    Refused(u16),
    /// No answer: name lookup, connect or TLS error, timeout, a garbled
    /// answer. The batch is dropped.
    Failed(String),
}

#[derive(Debug)]
pub struct PosterError(pub String);

impl std::fmt::Display for PosterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A moment after which every exchange in progress gives up. Unset while
/// presenced runs; a stop signal sets it to the end of the shutdown budget.
#[derive(Debug, Default)]
pub struct ShutdownCutoff(Mutex<Option<Instant>>);

impl ShutdownCutoff {
    pub fn set(&self, at: Instant) {
        if let Ok(mut c) = self.0.lock() {
            *c = Some(c.map_or(at, |old| old.min(at)));
        }
    }

    pub fn get(&self) -> Option<Instant> {
        self.0.lock().ok().and_then(|c| *c)
    }

    /// `deadline`, or the cut-off if that comes first.
    pub fn bound(&self, deadline: Instant) -> Instant {
        self.get().map_or(deadline, |c| c.min(deadline))
    }
}

/// A body that can be written more than once, the same bytes each time:
/// into the signature first (it goes in the head, before the body), then
/// onto the wire. A report is written straight from its rows both times
/// rather than held in memory (`report::WindowReport`).
pub trait Body {
    fn len(&self) -> usize;
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()>;
}

impl Body for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self)
    }
}

impl Body for crate::deliver::report::WindowReport<'_> {
    fn len(&self) -> usize {
        crate::deliver::report::WindowReport::len(self)
    }

    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        crate::deliver::report::WindowReport::write_to(self, out)
    }
}

/// Bytes of body per write on the wire (and per TLS record).
const SEND_BUFFER: usize = 8 * 1024;

/// Longest single wait before the deadline (and the cut-off) is looked at again.
const SLICE: Duration = Duration::from_millis(100);

pub struct Poster {
    target: Target,
    key: Vec<u8>,
    timeout: Duration,
    cutoff: Arc<ShutdownCutoff>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Poster {
    /// `ca_file` is read only for https URLs. `timeout` bounds each whole
    /// exchange; `cutoff` can bound it further.
    pub fn new(
        url: &str,
        key: &[u8],
        timeout: Duration,
        ca_file: &std::path::Path,
        cutoff: Arc<ShutdownCutoff>,
    ) -> Result<Poster, PosterError> {
        let target = Target::parse(url).map_err(|e| PosterError(format!("--url: {e}")))?;
        #[cfg(feature = "tls")]
        let tls = match target.https {
            true => Some(tls::config(ca_file)?),
            false => None,
        };
        #[cfg(not(feature = "tls"))]
        {
            let _ = ca_file;
            if target.https {
                return Err(PosterError("--url: https, but this build of presenced has no TLS".into()));
            }
        }
        Ok(Poster {
            target,
            key: key.to_vec(),
            timeout,
            cutoff,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    pub fn post(&self, body: &(impl Body + ?Sized)) -> PostOutcome {
        match self.sign(body) {
            Ok(signature) => self.post_signed(body, &signature),
            Err(cause) => PostOutcome::Failed(cause),
        }
    }

    /// The `Signature` of `body` under this poster's key, written from the
    /// body once (for a report that may have to be kept with it).
    pub fn sign(&self, body: &(impl Body + ?Sized)) -> Result<String, String> {
        let mut signer = Signer::new(&self.key);
        body.write_to(&mut signer).map_err(|e| format!("cannot sign the report: {e}"))?;
        Ok(signer.finish())
    }

    /// POSTs `body` with a `Signature` computed before (by `sign`, perhaps
    /// for an earlier attempt): the same bytes and header every time.
    pub fn post_signed(&self, body: &(impl Body + ?Sized), signature: &str) -> PostOutcome {
        let deadline = Deadline {
            own: Instant::now() + self.timeout,
            timeout: self.timeout,
            cutoff: Arc::clone(&self.cutoff),
        };
        match self.exchange(body, signature, &deadline) {
            Ok(status) if (200..300).contains(&status) => PostOutcome::Accepted(status),
            Ok(status) => PostOutcome::Refused(status),
            Err(cause) => PostOutcome::Failed(cause),
        }
    }

    fn exchange(&self, body: &(impl Body + ?Sized), signature: &str, deadline: &Deadline) -> Result<u16, String> {
        let head = request_head(&self.target, body.len(), signature);
        let addrs = resolve(&self.target, deadline)?;
        let tcp = connect(&addrs, deadline)?;
        let _ = tcp.set_nodelay(true);
        let stream = Sliced { tcp, deadline };
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls {
            let name = tls::server_name(&self.target)?;
            let conn = rustls::ClientConnection::new(Arc::clone(config), name)
                .map_err(|e| format!("TLS: {e}"))?;
            let mut tls_stream = rustls::StreamOwned::new(conn, stream);
            return send_and_read_status(&mut tls_stream, &head, body).map_err(|e| describe(e, deadline, true));
        }
        let mut stream = stream;
        send_and_read_status(&mut stream, &head, body).map_err(|e| describe(e, deadline, false))
    }
}

/// What went wrong in an exchange: the transport, or what the server said.
enum Fault {
    Io(io::Error),
    Answer(String),
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Fault::Io(e)
    }
}

fn send_and_read_status(stream: &mut (impl Read + Write), head: &[u8], body: &(impl Body + ?Sized)) -> Result<u16, Fault> {
    // Head and body through one buffer: the usual report leaves in one TCP
    // segment, a large one in 8 KiB writes, and neither is held whole.
    let mut out = std::io::BufWriter::with_capacity(SEND_BUFFER, &mut *stream);
    out.write_all(head)?;
    body.write_to(&mut out)?;
    out.flush()?;
    drop(out);
    let mut answer = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(Fault::Answer("the server closed the connection without an answer".into()));
        }
        answer.extend_from_slice(&buf[..n]);
        match parse_answer(&answer) {
            Ok(Answer::Status(s)) => return Ok(s),
            Ok(Answer::Incomplete) => {}
            Err(e) => return Err(Fault::Answer(e)),
        }
    }
}

fn describe(fault: Fault, deadline: &Deadline, tls: bool) -> String {
    match fault {
        Fault::Answer(why) => why,
        Fault::Io(e) if e.kind() == io::ErrorKind::TimedOut => deadline.expired_because(),
        // rustls reports its own failures (a certificate, an alert) as InvalidData.
        Fault::Io(e) if tls => format!("TLS or connection error: {e}"),
        Fault::Io(e) => format!("connection error: {e}"),
    }
}

struct Deadline {
    own: Instant,
    timeout: Duration,
    cutoff: Arc<ShutdownCutoff>,
}

impl Deadline {
    fn at(&self) -> Instant {
        self.cutoff.bound(self.own)
    }

    /// Time left, or a TimedOut error when there is none.
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.at().saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "deadline"))
        } else {
            Ok(left)
        }
    }

    fn expired_because(&self) -> String {
        match self.cutoff.get() {
            Some(c) if c <= self.own => "stopped: the shutdown budget ran out".into(),
            _ => format!("no answer within the timeout ({} ms)", self.timeout.as_millis()),
        }
    }
}

/// Name lookup runs in a thread of its own: getaddrinfo has no timeout of
/// ours, and a dead DNS server must not hold the report past its deadline. A
/// lookup that outlives its deadline finishes on its own and is ignored.
fn resolve(target: &Target, deadline: &Deadline) -> Result<Vec<SocketAddr>, String> {
    if let Some(ip) = target.ip() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let (tx, rx) = mpsc::channel();
    let host = target.host.clone();
    let port = target.port;
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let _ = tx.send((host.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
        })
        .map_err(|e| format!("cannot start the name lookup: {e}"))?;
    loop {
        let left = deadline.remaining().map_err(|_| {
            format!("{}: no name lookup answer for {} in time", deadline.expired_because(), target.host)
        })?;
        match rx.recv_timeout(left.min(SLICE)) {
            Ok(Ok(addrs)) if addrs.is_empty() => return Err(format!("{} has no address", target.host)),
            Ok(Ok(addrs)) => return Ok(at_most_four_ipv4_first(addrs)),
            Ok(Err(e)) => return Err(format!("cannot resolve {}: {e}", target.host)),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(format!("the name lookup of {} failed", target.host)),
        }
    }
}

/// The first four distinct addresses in getaddrinfo's order, IPv4 ones first
/// (a stable sort): a name with dozens of addresses must not turn into
/// dozens of connect attempts.
fn at_most_four_ipv4_first(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in addrs {
        if !out.contains(&a) && out.len() < 4 {
            out.push(a);
        }
    }
    out.sort_by_key(|a| matches!(a.ip(), IpAddr::V6(_)));
    out
}

fn connect(addrs: &[SocketAddr], deadline: &Deadline) -> Result<TcpStream, String> {
    let mut last = String::new();
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline
            .remaining()
            .map_err(|_| format!("{}: connecting to {addr}", deadline.expired_because()))?;
        // Later addresses keep a share of the time: a black-holed first
        // address must not take it all.
        let share = left / (addrs.len() - i) as u32;
        match connect_sliced(addr, share, deadline) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// A non-blocking connect(2) polled in slices, so that the cut-off is seen
/// while a handshake is under way (std's `connect_timeout` can only wait for
/// one fixed time).
fn connect_sliced(addr: &SocketAddr, budget: Duration, deadline: &Deadline) -> io::Result<TcpStream> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let until = Instant::now() + budget;
    let (family, storage, len) = sockaddr(addr);
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: storage holds a sockaddr of `len` bytes for `family`.
    let r = unsafe { libc::connect(socket.as_raw_fd(), &storage as *const _ as *const libc::sockaddr, len) };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        loop {
            let left = until.min(deadline.at()).saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
            }
            let mut pfd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
            let ms = left.min(SLICE).as_millis().max(1) as libc::c_int;
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if ready > 0 {
                break;
            }
        }
        connect_outcome(&socket)?;
    }
    let stream = TcpStream::from(socket);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Whether a connect that poll(2) says is over succeeded. getpeername
/// answers that; when it did not, a read returns the connect's error as
/// errno. (Not getsockopt(SO_ERROR): qemu-user hands that value to MIPS
/// programs with the host's errno numbers, and ECONNREFUSED is 111 on x86
/// but 146 on MIPS, so the MIPS tests would read a wrong error.)
fn connect_outcome(socket: &impl std::os::fd::AsRawFd) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    // SAFETY: all-zero is a valid sockaddr_storage; the lengths match it.
    let mut peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: peer and len are valid for writing a socket address.
    if unsafe { libc::getpeername(fd, &mut peer as *mut _ as *mut libc::sockaddr, &mut len) } == 0 {
        return Ok(());
    }
    let not_connected = io::Error::last_os_error();
    if not_connected.raw_os_error() != Some(libc::ENOTCONN) {
        return Err(not_connected);
    }
    let mut byte = 0u8;
    // SAFETY: one byte of valid memory to read into.
    let n = unsafe { libc::read(fd, &mut byte as *mut u8 as *mut libc::c_void, 1) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Err(io::Error::new(io::ErrorKind::NotConnected, "the connection was not established"))
}

fn sockaddr(addr: &SocketAddr) -> (libc::c_int, libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            (libc::AF_INET, storage, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (libc::AF_INET6, storage, std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// A TCP stream whose every read and write waits at most one slice at a
/// time and gives up at the deadline. rustls sits on top of it unchanged: a
/// slice that ends without data is retried here, below the TLS layer.
struct Sliced<'a> {
    tcp: TcpStream,
    deadline: &'a Deadline,
}

fn is_slice_end(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

impl Read for Sliced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.remaining()?;
            self.tcp.set_read_timeout(Some(left.min(SLICE)))?;
            match self.tcp.read(buf) {
                Err(e) if is_slice_end(&e) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl Write for Sliced<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.remaining()?;
            self.tcp.set_write_timeout(Some(left.min(SLICE)))?;
            match self.tcp.write(buf) {
                Err(e) if is_slice_end(&e) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The POST timeout for a rate: below the rate, so that a slow server never
/// delays the next report, and at most 10 s.
pub fn timeout_for_rate(rate_secs: u32) -> Duration {
    let three_quarters = Duration::from_millis(rate_secs as u64 * 750);
    three_quarters.min(Duration::from_secs(10))
}

/// Proxy variables that are set (and ignored), for the start-up log.
pub fn proxy_variables_set(get: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    const NAMES: [&str; 6] = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
    NAMES.into_iter().filter(|n| get(n).is_some_and(|v| !v.is_empty())).collect()
}

#[cfg(feature = "tls")]
mod tls {
    use std::path::Path;
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    use super::{PosterError, Target};

    /// Roots from the CA bundle only (not a compiled-in list, which would
    /// cost flash and go stale on an access point), with the ring provider.
    pub fn config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, PosterError> {
        let shown = ca_file.display();
        let pem = std::fs::read(ca_file).map_err(|e| PosterError(format!("--ca-file: cannot read {shown}: {e}")))?;
        let mut roots = rustls::RootCertStore::empty();
        let mut unusable = 0usize;
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            // A bundle may hold a certificate webpki cannot use as a root;
            // the others still count.
            if roots.add(cert).is_err() {
                unusable += 1;
            }
        }
        if roots.is_empty() {
            let why = if unusable > 0 { "holds no usable CA certificate" } else { "holds no PEM certificate" };
            return Err(PosterError(format!("--ca-file: {shown} {why}")));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PosterError(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    pub fn server_name(target: &Target) -> Result<ServerName<'static>, String> {
        ServerName::try_from(target.host.clone()).map_err(|e| format!("TLS: {} is not a valid server name: {e}", target.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_timeout_stays_below_the_rate() {
        assert_eq!(timeout_for_rate(1), Duration::from_millis(750));
        assert_eq!(timeout_for_rate(4), Duration::from_secs(3));
        assert_eq!(timeout_for_rate(30), Duration::from_secs(10));
        assert_eq!(timeout_for_rate(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn set_proxy_variables_are_named() {
        let env = |n: &str| match n {
            "http_proxy" => Some("http://p:3128".to_string()),
            "ALL_PROXY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(proxy_variables_set(env), vec!["http_proxy"]);
    }

    #[test]
    fn the_cutoff_only_ever_moves_earlier() {
        let c = ShutdownCutoff::default();
        let now = Instant::now();
        assert_eq!(c.bound(now + SLICE), now + SLICE);
        c.set(now + Duration::from_secs(3));
        c.set(now + Duration::from_secs(5));
        assert_eq!(c.get(), Some(now + Duration::from_secs(3)));
        assert_eq!(c.bound(now + Duration::from_secs(10)), now + Duration::from_secs(3));
        assert_eq!(c.bound(now + SLICE), now + SLICE);
    }

    /// A server that accepts and then says nothing: a cut-off set while the
    /// POST waits ends it within about one slice, long before its own timeout.
    #[test]
    fn a_cutoff_set_during_the_wait_ends_the_post() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let cutoff = Arc::new(ShutdownCutoff::default());
        let poster = Poster::new(&url, b"k", Duration::from_secs(60), Path::new("/nonexistent"), Arc::clone(&cutoff)).unwrap();
        let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
        let setter = {
            let cutoff = Arc::clone(&cutoff);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                cutoff.set(Instant::now());
            })
        };
        let started = Instant::now();
        let outcome = poster.post(&b"{}"[..]);
        // A liveness bound (the POST's own timeout is 60 s), not a speed check.
        assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
        assert_eq!(outcome, PostOutcome::Failed("stopped: the shutdown budget ran out".into()));
        setter.join().unwrap();
        drop(held.join().unwrap());
    }

    /// A server that trickles its answer one byte at a time, never ending
    /// the head: the POST's own timeout still ends it.
    #[test]
    fn a_trickling_answer_cannot_outlast_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let poster = Poster::new(&url, b"k", Duration::from_secs(1), Path::new("/nonexistent"), Arc::default()).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // 40 s of trickle if nothing cut it: far from the 1 s timeout.
            for b in b"HTTP/1.1 200 OK\r\nX: ".iter().cycle().take(2000) {
                if s.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let started = Instant::now();
        assert_eq!(poster.post(&b"{}"[..]), PostOutcome::Failed("no answer within the timeout (1000 ms)".into()));
        assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
        server.join().unwrap();
    }

    #[test]
    fn garbage_from_the_server_is_quoted() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let poster = Poster::new(&url, b"k", Duration::from_secs(5), Path::new("/nonexistent"), Arc::default()).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
        });
        assert_eq!(
            poster.post(&b"{}"[..]),
            PostOutcome::Failed("the server's answer is not HTTP/1.x: \"SSH-2.0-OpenSSH_9.2\"".into())
        );
        server.join().unwrap();
    }

    #[test]
    fn a_refused_connection_says_so() {
        // Bound, then closed: nothing listens on the port now.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/");
        let poster = Poster::new(&url, b"k", Duration::from_secs(5), Path::new("/nonexistent"), Arc::default()).unwrap();
        match poster.post(&b"{}"[..]) {
            PostOutcome::Failed(why) => assert!(why.starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")) && why.contains("refused"), "{why}"),
            other => panic!("{other:?}"),
        }
    }


    use std::path::Path;
}
