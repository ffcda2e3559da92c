//! `presenced-receiver` over real sockets, requests written by hand.
//!
//! Expected signatures come from Python's `hmac` module or from RFC 4231,
//! never from presenced's own `signature()`. Most tests run the server
//! in-process (to shorten its timeouts and see every exchange); the
//! `receiver_binary_*` tests run the binary as a user would.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use presenced_receiver::{Exchange, Receiver, ReceiverConfig, SignatureCheck, Sink};
use presenced_report::Report;
use presenced_test_support::python_hmac_sha256;
use support::receiver_process::ReceiverProcess;

const KEY: &[u8] = b"receiver-test-key";

/// The sample document of the Presence Reporting API, one row.
const SAMPLE: &str = r#"{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":[{"mac":"00:9a:cd:e3:15:49","count":11,"min_signal":-77,"max_signal":-36,"avg_signal":-55,"last_seen_signal":-77,"first_seen":1475860695,"last_seen":1475860718,"associated":false}]}"#;

/// No test may wait longer than this for the receiver: past it the receiver
/// has hung, and the test fails instead of blocking `make test`.
const GUARD: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Helpers

fn start(adjust: impl FnOnce(&mut ReceiverConfig)) -> (Receiver, mpsc::Receiver<Exchange>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let mut cfg = ReceiverConfig::new(KEY.to_vec());
    adjust(&mut cfg);
    let (tx, rx) = mpsc::channel();
    let receiver = Receiver::start(listener, cfg, Sink::Channel(tx)).expect("start receiver");
    (receiver, rx)
}

fn next_exchange(rx: &mpsc::Receiver<Exchange>) -> Exchange {
    rx.recv_timeout(GUARD)
        .expect("the receiver reported no exchange")
}

fn post(path: &str, body: &[u8], signature: Option<&str>) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(signature) = signature {
        request.push_str(&format!("Signature: {signature}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

struct Response {
    status: u16,
    /// Names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to receiver");
        stream.set_read_timeout(Some(GUARD)).expect("read timeout");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send request");
    }

    /// Reads more; false at end of stream (a reset counts as the end too).
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("no answer within {GUARD:?}: the receiver hung")
            }
            Err(_) => false,
        }
    }

    /// One response, framed by its Content-Length (the receiver always sends one).
    fn response(&mut self) -> Response {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.fill(),
                "connection closed before a response; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header colon");
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let length: usize = if (100..200).contains(&status) {
            // Interim answers have no body.
            0
        } else {
            headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map(|(_, v)| v.parse().expect("numeric Content-Length"))
                .expect("Content-Length in every final response")
        };
        while self.buf.len() < head_end + length {
            assert!(self.fill(), "connection closed inside a response body");
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        if status == 100 {
            // An interim answer: the final one follows.
            return self.response();
        }
        Response {
            status,
            headers,
            body,
        }
    }

    fn closed_by_server(&mut self) -> bool {
        while self.buf.is_empty() {
            if !self.fill() {
                return true;
            }
        }
        false
    }
}

fn exchange_once(addr: SocketAddr, request: &[u8]) -> Response {
    let mut client = Client::connect(addr);
    client.send(request);
    client.response()
}

// ---------------------------------------------------------------------------
// In-process

#[test]
fn receiver_accepts_a_report_signed_as_python_signs_it() {
    let (receiver, rx) = start(|_| {});
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let response = exchange_once(
        receiver.local_addr(),
        &post("/presence", SAMPLE.as_bytes(), Some(&signature)),
    );
    assert_eq!(response.status, 200);
    let exchange = next_exchange(&rx);
    assert_eq!(exchange.method, "POST");
    assert_eq!(exchange.path, "/presence");
    assert_eq!(exchange.status, 200);
    assert_eq!(exchange.signature, SignatureCheck::Ok);
    assert_eq!(
        exchange.signature_header.as_deref(),
        Some(signature.as_str())
    );
    assert_eq!(exchange.body, SAMPLE.as_bytes());
    let report = exchange.report.expect("accepted report");
    assert_eq!(report.network_id, 221234);
    assert_eq!(report.node_mac, "AC:86:74:82:9A:30");
    assert_eq!(report.probe_requests.len(), 1);
    assert_eq!(report.probe_requests[0].mac, "00:9a:cd:e3:15:49");
    assert_eq!(report.probe_requests[0].avg_signal, -55);
}

#[test]
fn receiver_accepts_an_upper_case_signature() {
    let (receiver, rx) = start(|_| {});
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes()).to_uppercase();
    let response = exchange_once(
        receiver.local_addr(),
        &post("/", SAMPLE.as_bytes(), Some(&signature)),
    );
    assert_eq!(response.status, 200);
    assert_eq!(next_exchange(&rx).signature, SignatureCheck::Ok);
}

#[test]
fn receiver_rejects_a_wrong_signature_with_403() {
    let (receiver, rx) = start(|_| {});
    // Signed with another key, and signed over other bytes.
    let other_key = python_hmac_sha256(b"another-key", SAMPLE.as_bytes());
    let other_body = python_hmac_sha256(KEY, SAMPLE.replace("221234", "221235").as_bytes());
    for signature in [other_key.as_str(), other_body.as_str(), "not hex", ""] {
        let response = exchange_once(
            receiver.local_addr(),
            &post("/", SAMPLE.as_bytes(), Some(signature)),
        );
        assert_eq!(response.status, 403, "signature {signature:?}");
        let exchange = next_exchange(&rx);
        assert_eq!(exchange.signature, SignatureCheck::Bad);
        assert!(exchange.report.is_none());
    }
}

#[test]
fn receiver_rejects_a_missing_signature_with_403() {
    let (receiver, rx) = start(|_| {});
    let response = exchange_once(receiver.local_addr(), &post("/", SAMPLE.as_bytes(), None));
    assert_eq!(response.status, 403);
    assert!(String::from_utf8_lossy(&response.body).contains("Signature"));
    let exchange = next_exchange(&rx);
    assert_eq!(exchange.signature, SignatureCheck::Missing);
    assert!(exchange.report.is_none());
}

#[test]
fn receiver_rejects_two_signature_headers_with_403() {
    let (receiver, _rx) = start(|_| {});
    let good = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let request = post("/", SAMPLE.as_bytes(), Some(&good));
    let text = String::from_utf8(request).unwrap().replacen(
        "Signature:",
        &format!("Signature: {good}\r\nSignature:"),
        1,
    );
    assert_eq!(
        exchange_once(receiver.local_addr(), text.as_bytes()).status,
        403
    );
}

#[test]
fn receiver_rejects_a_signed_body_that_is_not_json_with_400() {
    let (receiver, rx) = start(|_| {});
    let body = b"network_id=221234";
    let response = exchange_once(
        receiver.local_addr(),
        &post("/", body, Some(&python_hmac_sha256(KEY, body))),
    );
    assert_eq!(response.status, 400);
    let exchange = next_exchange(&rx);
    assert_eq!(exchange.signature, SignatureCheck::Ok);
    assert!(exchange.report.is_none());
}

#[test]
fn receiver_rejects_signed_json_that_is_not_a_report_with_400() {
    let (receiver, rx) = start(|_| {});
    let bodies = [
        // Unknown field.
        SAMPLE.replacen("\"version\":1", "\"version\":1,\"extra\":true", 1),
        // Missing field.
        SAMPLE.replacen("\"version\":1,", "", 1),
        // Wrong type.
        SAMPLE.replacen("\"count\":11", "\"count\":\"11\"", 1),
        "[]".to_string(),
        "{}".to_string(),
        SAMPLE[..SAMPLE.len() - 1].to_string(),
        // Well-formed JSON that is not a report of the documented format
        // (the checks of presenced_report::Report::validate).
        SAMPLE.replacen("\"version\":1", "\"version\":2", 1),
        SAMPLE.replacen("AC:86:74:82:9A:30", "AC-86-74-82-9A-30", 1),
        SAMPLE.replacen("00:9a:cd:e3:15:49", "009acde31549", 1),
        SAMPLE.replacen("\"first_seen\":1475860695", "\"first_seen\":1475860719", 1),
    ];
    for body in &bodies {
        assert_ne!(body, SAMPLE, "each case must change the sample");
        let signature = python_hmac_sha256(KEY, body.as_bytes());
        let response = exchange_once(
            receiver.local_addr(),
            &post("/", body.as_bytes(), Some(&signature)),
        );
        assert_eq!(response.status, 400, "body {body}");
        assert!(String::from_utf8_lossy(&response.body).starts_with("body is not a report"));
        assert!(next_exchange(&rx).report.is_none());
    }
}

#[test]
fn receiver_checks_the_signature_before_parsing_the_body() {
    let (receiver, _rx) = start(|_| {});
    // Not a report and not signed: the answer is about the signature.
    let response = exchange_once(
        receiver.local_addr(),
        &post("/", b"garbage", Some(&"0".repeat(64))),
    );
    assert_eq!(response.status, 403);
}

#[test]
fn receiver_rfc4231_case_2_signature_passes_then_the_body_is_refused() {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    let (receiver, rx) = start(|cfg| cfg.key = b"Jefe".to_vec());
    let mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    let response = exchange_once(
        receiver.local_addr(),
        &post("/", b"what do ya want for nothing?", Some(mac)),
    );
    // 400, not 403: the signature was right, the body is no report.
    assert_eq!(response.status, 400);
    assert_eq!(next_exchange(&rx).signature, SignatureCheck::Ok);
}

#[test]
fn receiver_answers_get_and_put_with_405() {
    let (receiver, rx) = start(|_| {});
    let mut client = Client::connect(receiver.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    let response = client.response();
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
    assert_eq!(next_exchange(&rx).method, "GET");
    // A bodiless refusal keeps the connection usable.
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    client.send(&post("/", SAMPLE.as_bytes(), Some(&signature)));
    assert_eq!(client.response().status, 200);

    let put = String::from_utf8(post("/", SAMPLE.as_bytes(), Some(&signature)))
        .unwrap()
        .replacen("POST", "PUT", 1);
    let response = exchange_once(receiver.local_addr(), put.as_bytes());
    assert_eq!(response.status, 405);
    assert_eq!(response.header("connection"), Some("close"));
}

#[test]
fn receiver_answers_a_body_over_the_default_16_mib_with_413_before_reading_it() {
    let (receiver, rx) = start(|_| {});
    let mut client = Client::connect(receiver.local_addr());
    // Only the head is sent: the answer must not wait for 16 MiB.
    client.send(
        b"POST / HTTP/1.1\r\nHost: test\r\nSignature: 00\r\nContent-Length: 16777217\r\n\r\n",
    );
    let response = client.response();
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(next_exchange(&rx).status, 413);
}

#[test]
fn receiver_accepts_a_body_of_exactly_the_limit_and_refuses_one_byte_more() {
    let limit = SAMPLE.len();
    let (receiver, _rx) = start(|cfg| cfg.max_body = limit);
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    assert_eq!(
        exchange_once(
            receiver.local_addr(),
            &post("/", SAMPLE.as_bytes(), Some(&signature))
        )
        .status,
        200
    );
    let longer = format!("{SAMPLE} ");
    let signature = python_hmac_sha256(KEY, longer.as_bytes());
    // The whole body is sent: the receiver must answer without reading it and
    // the answer must survive the unread bytes (no reset before it is read).
    assert_eq!(
        exchange_once(
            receiver.local_addr(),
            &post("/", longer.as_bytes(), Some(&signature))
        )
        .status,
        413
    );
}

#[test]
fn receiver_answers_an_oversize_chunked_body_with_413() {
    let (receiver, _rx) = start(|cfg| cfg.max_body = 100);
    let chunk = "x".repeat(60);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nSignature: 00\r\n\r\n3c\r\n{chunk}\r\n3c\r\n{chunk}\r\n0\r\n\r\n"
    );
    assert_eq!(
        exchange_once(receiver.local_addr(), request.as_bytes()).status,
        413
    );
}

#[test]
fn receiver_answers_a_truncated_body_with_408_instead_of_hanging() {
    let (receiver, rx) = start(|cfg| cfg.request_timeout = Duration::from_millis(300));
    let mut client = Client::connect(receiver.local_addr());
    // Content-Length promises 100 bytes; 10 come, then silence.
    client.send(
        b"POST / HTTP/1.1\r\nHost: test\r\nSignature: 00\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    let response = client.response();
    assert_eq!(response.status, 408);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.closed_by_server());
    assert!(next_exchange(&rx).report.is_none());
}

#[test]
fn receiver_answers_a_body_cut_by_the_client_closing_with_400() {
    let (receiver, _rx) = start(|_| {});
    let mut client = Client::connect(receiver.local_addr());
    client.send(
        b"POST / HTTP/1.1\r\nHost: test\r\nSignature: 00\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    client.stream.shutdown(Shutdown::Write).expect("half-close");
    assert_eq!(client.response().status, 400);
}

#[test]
fn receiver_cuts_off_a_client_that_trickles_its_head() {
    let (receiver, _rx) = start(|cfg| cfg.request_timeout = Duration::from_millis(500));
    let mut client = Client::connect(receiver.local_addr());
    let mut writer = client.stream.try_clone().expect("clone stream");
    // One byte every 50 ms: each read succeeds, only the overall deadline can stop it.
    let trickle: JoinHandle<()> = thread::spawn(move || {
        for byte in b"POST / HTTP/1.1\r\nHost: a-very-slow-client.example\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let response = client.response();
    assert_eq!(response.status, 408);
    drop(client);
    trickle.join().expect("trickle thread");
}

#[test]
fn receiver_closes_a_connection_idle_longer_than_the_idle_timeout() {
    let (receiver, _rx) = start(|cfg| cfg.idle_timeout = Duration::from_millis(200));
    let mut client = Client::connect(receiver.local_addr());
    assert!(client.closed_by_server());
}

#[test]
fn receiver_serves_two_requests_on_one_keep_alive_connection() {
    let (receiver, rx) = start(|_| {});
    let second = SAMPLE.replace("221234", "7");
    let mut client = Client::connect(receiver.local_addr());
    client.send(&post(
        "/",
        SAMPLE.as_bytes(),
        Some(&python_hmac_sha256(KEY, SAMPLE.as_bytes())),
    ));
    let first_response = client.response();
    assert_eq!(first_response.status, 200);
    assert_eq!(first_response.header("connection"), Some("keep-alive"));
    client.send(&post(
        "/",
        second.as_bytes(),
        Some(&python_hmac_sha256(KEY, second.as_bytes())),
    ));
    assert_eq!(client.response().status, 200);
    let (a, b) = (next_exchange(&rx), next_exchange(&rx));
    assert_eq!(a.peer, b.peer, "both requests came over one connection");
    assert_eq!(a.report.map(|r| r.network_id), Some(221234));
    assert_eq!(b.report.map(|r| r.network_id), Some(7));
}

#[test]
fn receiver_answers_pipelined_requests_in_order() {
    let (receiver, _rx) = start(|_| {});
    let mut both = post(
        "/",
        SAMPLE.as_bytes(),
        Some(&python_hmac_sha256(KEY, SAMPLE.as_bytes())),
    );
    both.extend_from_slice(&post("/", SAMPLE.as_bytes(), None));
    let mut client = Client::connect(receiver.local_addr());
    client.send(&both);
    assert_eq!(client.response().status, 200);
    assert_eq!(client.response().status, 403);
}

#[test]
fn receiver_honours_connection_close_and_http_1_0() {
    let (receiver, _rx) = start(|_| {});
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let request = String::from_utf8(post("/", SAMPLE.as_bytes(), Some(&signature))).unwrap();
    for variant in [
        request.replacen("Host: test\r\n", "Host: test\r\nConnection: close\r\n", 1),
        request.replacen("HTTP/1.1", "HTTP/1.0", 1),
    ] {
        let mut client = Client::connect(receiver.local_addr());
        client.send(variant.as_bytes());
        let response = client.response();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), Some("close"));
        assert!(client.closed_by_server());
    }
}

#[test]
fn receiver_reads_header_names_in_any_case() {
    let (receiver, rx) = start(|_| {});
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let request = format!(
        "POST / HTTP/1.1\r\nhOsT: test\r\nCONTENT-LENGTH: {}\r\nsIgNaTuRe:{signature}\r\n\r\n{SAMPLE}",
        SAMPLE.len()
    );
    assert_eq!(
        exchange_once(receiver.local_addr(), request.as_bytes()).status,
        200
    );
    assert_eq!(next_exchange(&rx).signature, SignatureCheck::Ok);
}

#[test]
fn receiver_accepts_a_chunked_body() {
    let (receiver, rx) = start(|_| {});
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let (a, b) = SAMPLE.split_at(50);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nSignature: {signature}\r\n\r\n{:x};ext=1\r\n{a}\r\n{:X}\r\n{b}\r\n0\r\nTrailer: x\r\n\r\n",
        a.len(),
        b.len()
    );
    assert_eq!(
        exchange_once(receiver.local_addr(), request.as_bytes()).status,
        200
    );
    assert_eq!(next_exchange(&rx).body, SAMPLE.as_bytes());
}

#[test]
fn receiver_sends_100_continue_when_asked() {
    let (receiver, _rx) = start(|_| {});
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let mut client = Client::connect(receiver.local_addr());
    client.send(
        format!("POST / HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nSignature: {signature}\r\nContent-Length: {}\r\n\r\n", SAMPLE.len())
            .as_bytes(),
    );
    // The interim answer must come before the body is sent.
    while !client.buf.windows(4).any(|w| w == b"\r\n\r\n") {
        assert!(client.fill(), "closed before 100 Continue");
    }
    assert!(
        client.buf.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&client.buf)
    );
    client.send(SAMPLE.as_bytes());
    assert_eq!(client.response().status, 200);
}

#[test]
fn receiver_answers_accepted_reports_with_the_configured_status() {
    let (receiver, rx) = start(|cfg| cfg.accept_status = 503);
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let response = exchange_once(
        receiver.local_addr(),
        &post("/", SAMPLE.as_bytes(), Some(&signature)),
    );
    assert_eq!(response.status, 503);
    let exchange = next_exchange(&rx);
    assert_eq!(exchange.status, 503);
    assert!(exchange.report.is_some(), "the report is still emitted");
    // A bad signature is still 403, not the configured status.
    assert_eq!(
        exchange_once(receiver.local_addr(), &post("/", SAMPLE.as_bytes(), None)).status,
        403
    );
}

#[test]
fn receiver_refuses_connections_beyond_its_limit_with_503() {
    let (receiver, _rx) = start(|cfg| cfg.max_connections = 1);
    let mut first = Client::connect(receiver.local_addr());
    // A completed request proves the first connection is being served.
    first.send(&post("/", SAMPLE.as_bytes(), None));
    assert_eq!(first.response().status, 403);
    let mut second = Client::connect(receiver.local_addr());
    assert_eq!(second.response().status, 503);
    drop(first);
}

#[test]
fn receiver_survives_malformed_requests() {
    let (receiver, _rx) = start(|cfg| cfg.request_timeout = Duration::from_millis(500));
    let mut binary: Vec<u8> = (0u8..=255).collect();
    binary.extend_from_slice(b"\r\n\r\n");
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"\r\n\r\nGARBAGE\r\n\r\n".to_vec(), 400),
        (b"POST\r\n\r\n".to_vec(), 400),
        (b"POST / HTTP/1.1 extra\r\n\r\n".to_vec(), 400),
        (b"POST / HTTP/9.9\r\n\r\n".to_vec(), 505),
        (
            b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeXX\r\n".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n"
                .to_vec(),
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 411),
        (b"POST / HTTP/1.1\r\nBad Header: x\r\n\r\n".to_vec(), 400),
        (b"POST / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n".to_vec(), 400),
        (binary, 400),
        (
            [b"POST / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 70 * 1024]].concat(),
            431,
        ),
    ];
    for (request, expected) in cases {
        let mut client = Client::connect(receiver.local_addr());
        client.send(&request);
        let _ = client.stream.shutdown(Shutdown::Write);
        let response = client.response();
        assert_eq!(
            response.status,
            expected,
            "request {:?}",
            String::from_utf8_lossy(&request[..request.len().min(80)])
        );
        assert_eq!(response.header("connection"), Some("close"));
    }
    // Still serving.
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    assert_eq!(
        exchange_once(
            receiver.local_addr(),
            &post("/", SAMPLE.as_bytes(), Some(&signature))
        )
        .status,
        200
    );
}

#[test]
fn receiver_stop_releases_the_port_and_closes_kept_alive_connections() {
    let (receiver, _rx) = start(|_| {});
    let addr = receiver.local_addr();
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let mut kept = Client::connect(addr);
    kept.send(&post("/", SAMPLE.as_bytes(), Some(&signature)));
    assert_eq!(kept.response().status, 200);

    receiver.stop();
    // A stopped receiver must look down even to a pooled connection.
    assert!(kept.closed_by_server());
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after stop"
    );

    // And it can come back on the same port.
    let listener = TcpListener::bind(addr).expect("port released");
    let (tx, rx) = mpsc::channel();
    let back = Receiver::start(
        listener,
        ReceiverConfig::new(KEY.to_vec()),
        Sink::Channel(tx),
    )
    .expect("restart");
    assert_eq!(
        exchange_once(
            back.local_addr(),
            &post("/", SAMPLE.as_bytes(), Some(&signature))
        )
        .status,
        200
    );
    assert!(next_exchange(&rx).report.is_some());
}

#[test]
fn receiver_start_refuses_an_invalid_config() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let error = Receiver::start(listener, ReceiverConfig::new(Vec::new()), Sink::Stdout)
        .err()
        .expect("empty key refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("key"), "{error}");
}

#[test]
fn receiver_file_sink_appends_one_line_per_report() {
    let dir = temp_dir("file-sink");
    let path = dir.join("reports.jsonl");
    std::fs::write(&path, "earlier line\n").unwrap();
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let receiver = Receiver::start(
        listener,
        ReceiverConfig::new(KEY.to_vec()),
        Sink::File(file),
    )
    .expect("start");
    // A pretty-printed report is stored compact, on one line.
    let pretty = SAMPLE.replace(",\"", ",\n  \"");
    for body in [SAMPLE, pretty.as_str()] {
        let signature = python_hmac_sha256(KEY, body.as_bytes());
        assert_eq!(
            exchange_once(
                receiver.local_addr(),
                &post("/", body.as_bytes(), Some(&signature))
            )
            .status,
            200
        );
    }
    receiver.stop();
    let stored = std::fs::read_to_string(&path).unwrap();
    assert_eq!(stored, format!("earlier line\n{SAMPLE}\n{SAMPLE}\n"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("presenced-receiver-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

// ---------------------------------------------------------------------------
// The binary

#[test]
fn receiver_binary_prints_each_accepted_report_as_one_json_line() {
    let binary = ReceiverProcess::start(&[], Some("env-key"));
    let signature = python_hmac_sha256(b"env-key", SAMPLE.as_bytes());
    // A rejected report first (same length, other bytes): it must not be printed.
    let rejected = SAMPLE.replace("221234", "999999");
    assert_eq!(
        exchange_once(
            binary.addr,
            &post("/presence", rejected.as_bytes(), Some(&"ab".repeat(32)))
        )
        .status,
        403
    );
    assert_eq!(
        exchange_once(
            binary.addr,
            &post("/presence", SAMPLE.as_bytes(), Some(&signature))
        )
        .status,
        200
    );
    let line = binary.next_line(GUARD).expect("a stdout line");
    assert_eq!(line, SAMPLE);
    assert_eq!(binary.next_line(Duration::from_millis(200)), None);
    let log = binary.finish();
    let n = SAMPLE.len();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].contains(&format!("POST /presence 403 {n} bytes signature bad")),
        "{log:?}"
    );
    assert!(
        log[1].contains(&format!("POST /presence 200 {n} bytes signature ok")),
        "{log:?}"
    );
}

#[test]
fn receiver_binary_appends_to_out_and_reads_the_key_file() {
    let dir = temp_dir("binary-out");
    let key_path = dir.join("key");
    let out_path = dir.join("reports.jsonl");
    // The trailing newline an editor leaves is not part of the key.
    std::fs::write(&key_path, "file-key\n").unwrap();
    // Only its owner may read a key file, or the receiver warns.
    std::fs::set_permissions(&key_path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(&out_path, "earlier line\n").unwrap();
    let binary = ReceiverProcess::start(
        &[
            "--key-file",
            key_path.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
            "-q",
        ],
        Some("ignored-env-key"),
    );
    let second = SAMPLE.replace("221234", "42");
    for body in [SAMPLE, second.as_str()] {
        let signature = python_hmac_sha256(b"file-key", body.as_bytes());
        assert_eq!(
            exchange_once(binary.addr, &post("/", body.as_bytes(), Some(&signature))).status,
            200
        );
    }
    // Each line is flushed before the answer is sent.
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        format!("earlier line\n{SAMPLE}\n{second}\n")
    );
    assert_eq!(binary.finish(), Vec::<String>::new(), "-q logs no requests");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn receiver_binary_status_option_sets_the_answer_to_accepted_reports() {
    let binary = ReceiverProcess::start(&["--status", "500"], Some("k"));
    let signature = python_hmac_sha256(b"k", SAMPLE.as_bytes());
    assert_eq!(
        exchange_once(binary.addr, &post("/", SAMPLE.as_bytes(), Some(&signature))).status,
        500
    );
    let line = binary.next_line(GUARD).expect("a stdout line");
    assert_eq!(line, SAMPLE);
}

#[test]
fn receiver_binary_usage_errors_exit_2_naming_the_option() {
    let cases: [(&[&str], Option<&str>, &str); 7] = [
        (&[], Some("k"), "--listen"),
        (&["--listen", "127.0.0.1"], Some("k"), "--listen"),
        (&["--listen", "127.0.0.1:0"], None, "--key-file"),
        (&["--listen", "127.0.0.1:0"], Some(""), "PRESENCED_KEY"),
        (
            &["--listen", "127.0.0.1:0", "--key", "secret"],
            Some("k"),
            "--key",
        ),
        (
            &["--listen", "127.0.0.1:0", "--status", "99"],
            Some("k"),
            "--status",
        ),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--key-file",
                "/nonexistent/presenced-key",
            ],
            None,
            "--key-file",
        ),
    ];
    for (args, key, option) in cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_presenced-receiver"));
        cmd.args(args)
            .env_remove("PRESENCED_KEY")
            .stdin(Stdio::null());
        if let Some(key) = key {
            cmd.env("PRESENCED_KEY", key);
        }
        let output = cmd.output().expect("run receiver");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("presenced-receiver: {option}:")),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: one line, got {stderr}"
        );
        assert!(
            !stderr.contains("secret"),
            "the key leaked into the message: {stderr}"
        );
    }
}

#[test]
fn receiver_binary_help_exits_0() {
    let output = Command::new(env!("CARGO_BIN_EXE_presenced-receiver"))
        .arg("--help")
        .output()
        .expect("run receiver");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("usage: presenced-receiver --listen"),
        "{text}"
    );
    assert!(text.contains("PRESENCED_KEY"));
}

#[test]
fn receiver_binary_reports_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_presenced-receiver"))
        .args(["--listen", &addr])
        .env("PRESENCED_KEY", "k")
        .output()
        .expect("run receiver");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "presenced-receiver: --listen: cannot listen on {addr}"
        )),
        "{stderr}"
    );
}

/// The report the receiver hands a test must be the one the sender meant.
#[test]
fn receiver_exchange_report_equals_the_parsed_body() {
    let (receiver, rx) = start(|_| {});
    let signature = python_hmac_sha256(KEY, SAMPLE.as_bytes());
    exchange_once(
        receiver.local_addr(),
        &post("/", SAMPLE.as_bytes(), Some(&signature)),
    );
    let expected: Report = serde_json::from_str(SAMPLE).unwrap();
    assert_eq!(next_exchange(&rx).report, Some(expected));
}

/// presenced's own POST (its hand-written head, `Connection: close`) reaches
/// the receiver intact, and the receiver honours the close.
#[test]
fn receiver_accepts_presenceds_own_post() {
    use presenced::deliver::http::{PostOutcome, Poster, ShutdownCutoff};
    use std::sync::Arc;
    let (receiver, rx) = start(|_| {});
    let url = format!("http://{}/presence", receiver.local_addr());
    let poster = Poster::new(&url, KEY, GUARD, std::path::Path::new("/nonexistent"), Arc::new(ShutdownCutoff::default()))
        .expect("poster");
    for _ in 0..2 {
        assert_eq!(poster.post(SAMPLE.as_bytes()), PostOutcome::Accepted(200));
        let exchange = next_exchange(&rx);
        assert_eq!(exchange.signature, SignatureCheck::Ok);
        assert_eq!(exchange.path, "/presence");
    }
}
