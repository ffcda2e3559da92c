//! `presenced` as a child process: killed by PID on drop, its stderr
//! collected line by line so that a test can wait for a log line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The daemon's log so far; clones share it.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn text(&self) -> String {
        self.lines().join("\n")
    }
}

pub struct DaemonProcess {
    child: Option<Child>,
    pub log: Log,
}

impl DaemonProcess {
    /// Runs the `presenced` binary with `args` and `PRESENCED_KEY=key`.
    pub fn start(args: &[&str], key: &str) -> DaemonProcess {
        DaemonProcess::start_command(Command::new(env!("CARGO_BIN_EXE_presenced")), args, key)
    }

    /// As `start`, with a command prepared by the caller (another build of
    /// presenced, resource limits).
    pub fn start_command(mut command: Command, args: &[&str], key: &str) -> DaemonProcess {
        let mut child = command
            .args(args)
            .env("PRESENCED_KEY", key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("presenced starts");
        let stderr = BufReader::new(child.stderr.take().expect("stderr piped"));
        let log = Log::default();
        let lines = log.clone();
        // Ends by itself when the process's stderr closes.
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                lines.0.lock().unwrap().push(line);
            }
        });
        DaemonProcess { child: Some(child), log }
    }

    /// Waits until a log line contains `text`; returns it.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log.lines().into_iter().find(|l| l.contains(text)) {
                return line;
            }
            assert!(Instant::now() < until, "no log line with {text:?} in {timeout:?}:\n{}", self.log.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits, bounded, for the process to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("presenced running");
        let until = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < until, "presenced still running after {timeout:?}:\n{}", self.log.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM by PID, then a bounded wait for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM, timeout)
    }

    /// `signal` by PID, then a bounded wait for the exit.
    pub fn signal(&mut self, signal: libc::c_int, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("presenced running");
        // SAFETY: kill(2) with a PID we spawned and have not reaped yet, so
        // it cannot have been reused.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "kill -{signal} {}", child.id());
        let until = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < until, "presenced still running {timeout:?} after signal {signal}:\n{}", self.log.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
