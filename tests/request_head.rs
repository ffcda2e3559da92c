//! The request on the wire, byte for byte, and the receivers people write.
//!
//! - An HTTP stub keeps presenced's request head as sent: every header
//!   name must be spelled as the vendors' documents spell it (`Signature`,
//!   `Content-Type`), because receivers look them up case-sensitively.
//! - PHP's built-in server with a receiver written the way the documents' PHP
//!   users write one (`getallheaders()['Signature']`, `hash_hmac`): every
//!   report must verify there, an implementation wholly apart from ours.
//! - Proxy variables are ignored, and the start-up log says so.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use presenced_test_support::http_stub::HttpStub;
use presenced_test_support::python_hmac_sha256;
use support::TempDir;

const KEY: &str = "head test key";
const NODE: &str = "ac:86:74:82:9a:30";

fn capture(name: &str) -> PathBuf {
    support::data::shared_capture(name)
}

fn presenced(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_presenced"));
    cmd.args(args).env("PRESENCED_KEY", KEY).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("presenced runs");
    support::wait_with_timeout(child, Duration::from_secs(60))
}

#[test]
fn the_request_head_is_byte_for_byte_what_the_documents_name() {
    let stub = HttpStub::start(vec![]);
    let port = stub.addr().port();
    let url = stub.url("/cloudtrax/receive.php?site=7");
    let file = capture("taxonomy-nexus-one-2g4.pcap");
    let out = presenced(
        &["-r", file.to_str().unwrap(), "--url", &url, "--stdout", "--node-mac", NODE, "--no-hostapd",
          "--rate", "4294967295", "--network-id", "221234"],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = stub.wait_for(1, Duration::from_secs(20));
    let printed = String::from_utf8(out.stdout).unwrap();
    let body = printed.trim_end_matches('\n').as_bytes();
    assert_eq!(got[0].body, body, "the body sent is the body printed");
    let expected = format!(
        "POST /cloudtrax/receive.php?site=7 HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         User-Agent: presenced/{version}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {length}\r\n\
         Signature: {signature}\r\n\
         Connection: close\r\n\
         \r\n",
        version = env!("CARGO_PKG_VERSION"),
        length = body.len(),
        signature = python_hmac_sha256(KEY.as_bytes(), body),
    );
    assert_eq!(got[0].head, expected);
}

#[test]
fn proxy_variables_are_ignored_and_the_log_says_so() {
    let stub = HttpStub::start(vec![]);
    let url = stub.url("/presence");
    let file = capture("taxonomy-canon-mx492-2g4.pcap");
    // A proxy that does not exist: were it used, the POST would fail.
    let proxy = "http://127.0.0.1:9/";
    let out = presenced(
        &["-r", file.to_str().unwrap(), "--url", &url, "--node-mac", NODE, "--no-hostapd"],
        &[("HTTP_PROXY", proxy), ("http_proxy", proxy), ("ALL_PROXY", proxy)],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("HTTP_PROXY, http_proxy, ALL_PROXY set, and ignored"), "{log}");
    assert!(log.contains("HTTP 200"), "{log}");
    assert_eq!(stub.requests().len(), 1);
}

/// PHP's built-in web server, killed by PID on drop.
struct Php {
    child: Child,
    port: u16,
}

impl Php {
    fn start(dir: &Path, script: &Path, out: &Path) -> Php {
        // A free port, then php -S on it; php prints nothing we can wait on
        // portably, so the port is polled until it accepts.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("php")
            .args(["-n", "-S", &format!("127.0.0.1:{port}"), script.to_str().unwrap()])
            .current_dir(dir)
            .env("PRESENCED_TEST_KEY", KEY)
            .env("PRESENCED_TEST_OUT", out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run php (package php-cli, installed by make deps): {e}"));
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "php -S did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Php { child, port }
    }
}

impl Drop for Php {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The receiver as a PHP user of the vendors' documents writes it.
const PHP_RECEIVER: &str = r#"<?php
$body = file_get_contents('php://input');
$headers = getallheaders();
$given = isset($headers['Signature']) ? $headers['Signature'] : '';
$type = isset($headers['Content-Type']) ? $headers['Content-Type'] : '';
$ok = hash_equals(hash_hmac('sha256', $body, getenv('PRESENCED_TEST_KEY')), $given)
    && $type === 'application/json';
$report = json_decode($body, true);
$rows = is_array($report) ? count($report['probe_requests']) : -1;
file_put_contents(getenv('PRESENCED_TEST_OUT'), ($ok ? 'verified' : 'REJECTED') . " $rows\n", FILE_APPEND);
http_response_code($ok ? 200 : 403);
"#;

#[test]
fn a_php_receiver_reading_getallheaders_verifies_every_report() {
    let dir = TempDir::new("php-receiver");
    let script = dir.path().join("receive.php");
    std::fs::write(&script, PHP_RECEIVER).unwrap();
    let out_file = dir.path().join("php.log");
    let php = Php::start(dir.path(), &script, &out_file);
    let url = format!("http://127.0.0.1:{}/receive.php", php.port);
    // nexus-one at rate 1: six windows, so six reports (see tests/post.rs).
    let file = capture("taxonomy-nexus-one-2g4.pcap");
    let out = presenced(
        &["-r", file.to_str().unwrap(), "--url", &url, "--stdout", "--node-mac", NODE, "--no-hostapd", "--rate", "1"],
        &[],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let printed: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
    let php_lines: Vec<String> = std::fs::read_to_string(&out_file)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let expected: Vec<String> = printed
        .iter()
        .map(|body| {
            let report: serde_json::Value = serde_json::from_str(body).unwrap();
            format!("verified {}", report["probe_requests"].as_array().unwrap().len())
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(php_lines, expected, "presenced's log:\n{log}");
    assert_eq!(log.matches("HTTP 200").count(), expected.len(), "{log}");
    drop(php);
}
