//! What the tests of presenced, presenced-receiver and presenced-server
//! share: expected values from an implementation other than the code under
//! test, and the plumbing every test tree would otherwise repeat. A
//! dev-dependency only: nothing here reaches a binary.

//!
//! - [`data`]: where the shared captures and test vectors are, a plain pcap
//!   reader and writer, tshark as the reference decoder.
//! - [`python_hmac_sha256`], [`python_hmac_sha512`]: expected signatures from
//!   Python's `hmac`, not from the code under test.
//! - [`TempDir`]: a directory of one test, removed on drop (`tempfile`).
//! - [`http_stub`]: an HTTP endpoint that answers each request as a script
//!   says (status, hang, close) and keeps what it received.
//! - [`layers`]: which top-level modules of a crate import which, and the
//!   first import cycle.

pub mod data;
pub mod http_stub;
pub mod layers;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A directory of one test run, removed on drop; its name starts with
/// `presenced-TAG-` so that one left by a killed test says whose it is.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("presenced-{tag}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot make a temporary directory: {e}"));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Lower-case hex HMAC-SHA256 computed by `python3`'s standard library, so
/// that a test's expected signature does not come from the code under test.
pub fn python_hmac_sha256(key: &[u8], body: &[u8]) -> String {
    python_hmac("sha256", key, body)
}

/// The same with SHA-512 (presenced-server's query API signs with it).
pub fn python_hmac_sha512(key: &[u8], message: &[u8]) -> String {
    python_hmac("sha512", key, message)
}

fn python_hmac(digest: &str, key: &[u8], body: &[u8]) -> String {
    let script = "import hashlib, hmac, sys; \
                  key = bytes.fromhex(sys.argv[1]); \
                  print(hmac.new(key, sys.stdin.buffer.read(), getattr(hashlib, sys.argv[2])).hexdigest())";
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = Command::new("python3")
        .args(["-c", script, &key_hex, digest])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 for the reference HMAC: {e}"));
    // Written from a thread so a large body cannot deadlock against stdout.
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let body = body.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let output = child.wait_with_output().expect("python3 ran");
    writer.join().expect("writer thread").expect("body written to python3");
    assert!(output.status.success(), "python3 hmac failed: {:?}", output.status);
    let hex = String::from_utf8(output.stdout).expect("python3 prints ASCII").trim().to_string();
    let hex_len = if digest == "sha256" { 64 } else { 128 };
    assert_eq!(hex.len(), hex_len, "python3 printed {hex:?}");
    hex
}
