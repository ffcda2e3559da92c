//! What the tests of presenced, presenced-receiver and presenced-server
//! share: expected values from an implementation other than the code under
//! test, and the plumbing every test tree would otherwise repeat. A
//! dev-dependency only: nothing here reaches a binary.

use std::io::Write;
use std::process::{Command, Stdio};

/// Lower-case hex HMAC-SHA256 computed by `python3`'s standard library, so
/// that a test's expected signature does not come from the code under test.
pub fn python_hmac_sha256(key: &[u8], body: &[u8]) -> String {
    let script = "import hashlib, hmac, sys; \
                  key = bytes.fromhex(sys.argv[1]); \
                  print(hmac.new(key, sys.stdin.buffer.read(), hashlib.sha256).hexdigest())";
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = Command::new("python3")
        .args(["-c", script, &key_hex])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 for the reference HMAC: {e}"));
    // Written from a thread so a large body cannot deadlock against stdout.
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let body = body.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let output = child.wait_with_output().expect("python3 ran");
    writer
        .join()
        .expect("writer thread")
        .expect("body written to python3");
    assert!(
        output.status.success(),
        "python3 hmac failed: {:?}",
        output.status
    );
    let hex = String::from_utf8(output.stdout)
        .expect("python3 prints ASCII")
        .trim()
        .to_string();
    assert_eq!(hex.len(), 64, "python3 printed {hex:?}");
    hex
}

