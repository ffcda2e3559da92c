//! `presenced-receiver` as a child process, for tests that want the binary
//! rather than the in-process `presenced_receiver::Receiver`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub struct ReceiverProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Lines are read on a thread so that waiting for one can time out.
    stdout_lines: mpsc::Receiver<String>,
    stderr_lines: Arc<Mutex<Vec<String>>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl ReceiverProcess {
    /// Runs `presenced-receiver --listen 127.0.0.1:0 ARGS` with `PRESENCED_KEY`
    /// set to `key_env` (or unset), and waits for the address it listens on.
    /// A `--listen` in `args` comes later and wins: that is how a test brings
    /// a receiver back on the port it had.
    pub fn start(args: &[&str], key_env: Option<&str>) -> ReceiverProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_presenced-receiver"));
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("PRESENCED_KEY");
        if let Some(key) = key_env {
            cmd.env("PRESENCED_KEY", key);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr piped"));
        let mut first = String::new();
        stderr.read_line(&mut first).expect("read stderr");
        let Some(addr) = first
            .trim()
            .strip_prefix("presenced-receiver: listening on ")
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected first stderr line {first:?}");
        };
        let addr: SocketAddr = addr.parse().expect("printed address");
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr_lines);
        let stderr_thread = thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
        let (tx, stdout_lines) = mpsc::channel();
        // Ends by itself when the process's stdout closes.
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        ReceiverProcess {
            child,
            addr,
            stdout_lines,
            stderr_lines,
            stderr_thread: Some(stderr_thread),
        }
    }

    /// Ends the process (by its PID) and returns what it logged after the
    /// listening line.
    pub fn finish(mut self) -> Vec<String> {
        self.kill();
        if let Some(thread) = self.stderr_thread.take() {
            thread.join().expect("stderr thread");
        }
        std::mem::take(&mut *self.stderr_lines.lock().unwrap())
    }

    /// The next line the receiver prints on stdout (an accepted report,
    /// without its newline), or `None` if none comes within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.stdout_lines.recv_timeout(timeout).ok()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ReceiverProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
