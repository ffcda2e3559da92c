//! `report_server.py` (a customer's server in Python, checking each
//! Signature with Python's own hmac) as a child process killed by PID.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct ReportServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl ReportServer {
    /// `extra`: report_server.py's options (--status, --fail-first, ...).
    pub fn start(dir: &Path, key: &str, extra: &[&str]) -> ReportServer {
        let log = dir.join(format!("server-{}.jsonl", extra.join("_").replace(['/', '-'], "")));
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/report_server.py"))
            .arg("--log")
            .arg(&log)
            .args(["--key", key])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the stand-in server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut line).expect("read its port");
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("report_server.py did not start: {line:?}");
        };
        ReportServer { child, port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/presence", self.port)
    }

    /// Every answered POST so far, in the order they arrived.
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON record"))
            .collect()
    }

    /// Waits until `count` POSTs are held unanswered (--hang, --hang-after);
    /// fails the test if they are not within `timeout`.
    pub fn wait_for_hanging(&self, count: usize, timeout: std::time::Duration) {
        let mut path = self.log.clone().into_os_string();
        path.push(".hanging");
        let until = std::time::Instant::now() + timeout;
        loop {
            let held = std::fs::read_to_string(&path).map(|s| s.lines().count()).unwrap_or(0);
            if held >= count {
                return;
            }
            assert!(std::time::Instant::now() < until, "{held} of {count} POSTs held within {timeout:?}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for ReportServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
