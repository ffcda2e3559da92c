//! Reports over HTTP and HTTPS to a stand-in server written in Python
//! (tests/support/report_server.py), which checks each Signature with
//! Python's own hmac module: an implementation independent of presenced's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::TempDir;

const KEY: &str = "presence key with spaces & ünïcode";

fn capture(name: &str) -> PathBuf {
    support::data::shared_data().join("captures").join(name)
}

/// The Python server, killed by PID on drop.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let log = dir.join(format!("server-{}.jsonl", extra.join("_").replace(['/', '-'], "")));
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/report_server.py"))
            .arg("--log")
            .arg(&log)
            .args(["--key", KEY])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the stand-in server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("server did not start: {line:?}"));
        Server { child, port, log }
    }

    fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replay(file: &Path, url: &str, rate: &str, extra: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("-r")
        .arg(file)
        .args(["--url", url, "--stdout", "--no-hostapd", "--node-mac", "02:00:00:00:00:01", "--rate", rate])
        .args(extra)
        .env("PRESENCED_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A liveness bound, not a speed test: a POST that never returned would hang here.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("presenced did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn http_reports_carry_a_signature_python_agrees_with() {
    let dir = TempDir::new("post-http");
    let server = Server::start(dir.path(), &[]);
    let url = format!("http://127.0.0.1:{}/presence?site=1", server.port);
    // nexus-one: 10 probe requests over 5.2 s; rate 1 gives 6 windows, 2 of them empty.
    let out = replay(&capture("taxonomy-nexus-one-2g4.pcap"), &url, "1", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let printed = stdout_lines(&out);
    let received = server.records();
    assert_eq!(received.len(), 6, "{stderr}");
    assert_eq!(printed.len(), 6);
    for (record, line) in received.iter().zip(&printed) {
        assert_eq!(record["path"], "/presence?site=1");
        assert_eq!(record["content_type"], "application/json");
        assert_eq!(record["signature_ok"], true, "{record}");
        let sig = record["signature"].as_str().unwrap();
        assert!(sig.len() == 64 && sig.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{sig}");
        assert_eq!(record["body"].as_str().unwrap(), line, "the body sent is the line printed");
    }
    let counts: Vec<usize> = printed
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["probe_requests"].as_array().unwrap().iter().map(|r| r["count"].as_u64().unwrap() as usize).sum()
        })
        .collect();
    // Hand-cut from tshark's timestamps: windows from 1454219300.519401 every second.
    assert_eq!(counts, [4, 2, 0, 0, 3, 1]);
    assert_eq!(stderr.matches("HTTP 200 in").count(), 6, "{stderr}");
}

fn make_ca_and_leaf(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl makes the test certificates");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
          "-out", "ca.pem", "-subj", "/CN=presenced test CA", "-days", "2"]);
    run(&["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key",
          "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]);
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    run(&["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem",
          "-days", "2", "-extfile", "leaf.ext"]);
    (dir.join("ca.pem"), dir.join("leaf.pem"), dir.join("leaf.key"))
}

#[test]
fn https_verifies_the_server_against_the_ca_file() {
    let dir = TempDir::new("post-https");
    let (ca, cert, key) = make_ca_and_leaf(dir.path());
    let server = Server::start(dir.path(), &["--cert", cert.to_str().unwrap(), "--keyfile", key.to_str().unwrap()]);
    let url = format!("https://127.0.0.1:{}/p", server.port);
    let file = capture("taxonomy-samsung-captivate-2g4.pcap");

    let out = replay(&file, &url, "30", &["--ca-file", ca.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let received = server.records();
    assert_eq!(received.len(), 1, "{stderr}");
    assert_eq!(received[0]["signature_ok"], true);
    assert_eq!(received[0]["body"].as_str().unwrap(), stdout_lines(&out)[0]);

    // The system bundle does not know the test CA: the batch is dropped, said once.
    let out = replay(&file, &url, "30", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(server.records().len(), 1, "nothing more may arrive");
    assert_eq!(stderr.matches("report dropped: POST failed").count(), 1, "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "the cause is named: {stderr}");
    assert_eq!(stdout_lines(&out).len(), 1, "the report is still printed");

    // A CA file with no certificate in it is a clear error before anything runs.
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    let out = replay(&file, &url, "30", &["--ca-file", dir.path().join("empty.pem").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--ca-file:") && stderr.contains("holds no PEM certificate"), "{stderr}");
}

#[test]
fn a_refusing_server_drops_each_batch_with_its_status() {
    let dir = TempDir::new("post-500");
    let server = Server::start(dir.path(), &["--status", "500"]);
    let url = format!("http://127.0.0.1:{}/", server.port);
    let out = replay(&capture("taxonomy-nexus-one-2g4.pcap"), &url, "1", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(server.records().len(), 6, "each batch is sent once, not retried");
    assert_eq!(stderr.matches("report dropped: the server answered HTTP 500").count(), 6, "{stderr}");
}

#[test]
fn an_unreachable_or_silent_server_drops_batches_and_capture_goes_on() {
    // Nothing listens on this port: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = replay(&capture("taxonomy-nexus-one-2g4.pcap"), &format!("http://127.0.0.1:{port}/"), "1", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("report dropped: POST failed").count(), 6, "{stderr}");
    assert_eq!(stdout_lines(&out).len(), 6);

    let dir = TempDir::new("post-hang");
    let server = Server::start(dir.path(), &["--hang"]);
    let out = replay(&capture("taxonomy-samsung-captivate-2g4.pcap"), &format!("http://127.0.0.1:{}/", server.port), "2", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("report dropped: POST failed").count(), 1, "{stderr}");
    assert!(stderr.to_lowercase().contains("timeout") || stderr.to_lowercase().contains("timed out"), "{stderr}");
}
