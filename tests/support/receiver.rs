//! `presenced_receiver::Receiver` on a thread of the test, for tests that
//! need the other end of the daemon's POSTs: every accepted report comes
//! back as the line the `presenced-receiver` binary would print, and every
//! exchange (accepted or not) is kept for the test to look at.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use presenced_receiver::{report_line, Exchange, Receiver, ReceiverConfig, Sink};

pub struct InProcessReceiver {
    receiver: Receiver,
    pub addr: SocketAddr,
    exchanges: mpsc::Receiver<Exchange>,
    seen: std::cell::RefCell<Vec<Exchange>>,
}

impl InProcessReceiver {
    /// Listens on a free port of 127.0.0.1 and checks `Signature` with `key`.
    pub fn start(key: &str) -> InProcessReceiver {
        InProcessReceiver::start_on("127.0.0.1:0".parse().unwrap(), key)
    }

    /// Listens on `addr`: how a test brings a receiver back on the port it had.
    pub fn start_on(addr: SocketAddr, key: &str) -> InProcessReceiver {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let (tx, exchanges) = mpsc::channel();
        let mut cfg = ReceiverConfig::new(key.as_bytes().to_vec());
        cfg.log_requests = false;
        let receiver = Receiver::start(listener, cfg, Sink::Channel(tx)).expect("start the receiver");
        let addr = receiver.local_addr();
        InProcessReceiver { receiver, addr, exchanges, seen: Default::default() }
    }

    /// The next accepted report as one line (the body as sent), or `None` if
    /// none comes within `timeout`. Rejected requests are kept, not returned.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        let until = Instant::now() + timeout;
        loop {
            let exchange = self.exchanges.recv_timeout(until.saturating_duration_since(Instant::now())).ok()?;
            let line = exchange
                .report
                .as_ref()
                .map(|report| String::from_utf8(report_line(&exchange.body, report)).expect("a report is UTF-8"));
            self.seen.borrow_mut().push(exchange);
            if line.is_some() {
                return line;
            }
        }
    }

    /// Stops the receiver (its port is free again once this returns) and
    /// returns every exchange it had, accepted or not.
    pub fn finish(self) -> Vec<Exchange> {
        self.receiver.stop();
        let mut seen = self.seen.into_inner();
        seen.extend(self.exchanges.try_iter());
        seen
    }
}
