//! Reports the server did not take, kept in memory exactly as they were
//! signed (`--spool-bytes N`), to be sent again oldest first.
//!
//! A report costs its body's bytes plus its Signature's; the spool holds at
//! most N of them in all, and a report that does not fit pushes out the
//! oldest ones, which are counted. RAM only: flash wears, and `/tmp` is RAM
//! on OpenWrt anyway. Pure: the resender (src/resender.rs) does the sending.

use std::collections::VecDeque;
use std::sync::Arc;

/// One kept report: the bytes and the header value of its first POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpooledReport {
    /// Increasing in the order reports were kept, so that the one sent can
    /// be removed even if overflow has already pushed it out.
    pub id: u64,
    pub body: Arc<[u8]>,
    pub signature: Arc<str>,
}

impl SpooledReport {
    fn cost(&self) -> usize {
        cost(self.body.len(), self.signature.len())
    }
}

fn cost(body_len: usize, signature_len: usize) -> usize {
    body_len.saturating_add(signature_len)
}

/// What keeping one report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Kept; this many older reports (and bytes) were pushed out for it.
    Yes { dropped: usize, dropped_bytes: usize },
    /// Larger on its own than the whole spool: not kept.
    TooLarge,
}

#[derive(Debug)]
pub struct Spool {
    limit: usize,
    used: usize,
    queue: VecDeque<SpooledReport>,
    next_id: u64,
    dropped_total: u64,
}

impl Spool {
    pub fn new(limit: usize) -> Spool {
        Spool { limit, used: 0, queue: VecDeque::new(), next_id: 0, dropped_total: 0 }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether a report of `body_len` bytes and this signature length could
    /// be kept at all: asked before the report is rendered into memory.
    pub fn fits(&self, body_len: usize, signature_len: usize) -> bool {
        cost(body_len, signature_len) <= self.limit
    }

    /// Keeps a report at the end of the queue, pushing out the oldest ones
    /// while the total would exceed the limit.
    pub fn keep(&mut self, body: Vec<u8>, signature: String) -> Kept {
        if !self.fits(body.len(), signature.len()) {
            self.dropped_total += 1;
            return Kept::TooLarge;
        }
        let report = SpooledReport { id: self.next_id, body: body.into(), signature: signature.into() };
        self.next_id += 1;
        let (mut dropped, mut dropped_bytes) = (0, 0);
        while self.used + report.cost() > self.limit {
            // The loop ends: the report fits an empty spool.
            let Some(oldest) = self.queue.pop_front() else { break };
            self.used -= oldest.cost();
            dropped += 1;
            dropped_bytes += oldest.cost();
        }
        self.dropped_total += dropped as u64;
        self.used += report.cost();
        self.queue.push_back(report);
        Kept::Yes { dropped, dropped_bytes }
    }

    /// The report to send next (shared, not removed: it stays until the
    /// server takes it).
    pub fn oldest(&self) -> Option<SpooledReport> {
        self.queue.front().cloned()
    }

    /// Removes a report the server took; false if overflow had pushed it
    /// out meanwhile.
    pub fn remove(&mut self, id: u64) -> bool {
        match self.queue.iter().position(|r| r.id == id) {
            Some(i) => {
                if let Some(r) = self.queue.remove(i) {
                    self.used -= r.cost();
                }
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes held: bodies and signatures.
    pub fn bytes(&self) -> usize {
        self.used
    }

    /// Reports given up because the spool was full, since the start.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize, fill: u8) -> Vec<u8> {
        vec![fill; n]
    }

    #[test]
    fn reports_come_back_oldest_first_and_leave_when_taken() {
        let mut s = Spool::new(1000);
        assert_eq!(s.keep(body(100, b'a'), "s1".into()), Kept::Yes { dropped: 0, dropped_bytes: 0 });
        assert_eq!(s.keep(body(200, b'b'), "s2".into()), Kept::Yes { dropped: 0, dropped_bytes: 0 });
        // 102 + 202 bytes by hand.
        assert_eq!((s.len(), s.bytes()), (2, 304));
        let first = s.oldest().unwrap();
        assert_eq!((&*first.signature, first.body.len()), ("s1", 100));
        // Asking again gives the same one: it stays until removed.
        assert_eq!(s.oldest().unwrap().id, first.id);
        assert!(s.remove(first.id));
        assert!(!s.remove(first.id));
        assert_eq!(&*s.oldest().unwrap().signature, "s2");
        assert_eq!(s.bytes(), 202);
    }

    #[test]
    fn overflow_pushes_out_the_oldest_and_counts_them() {
        // Limit 350: three reports of 100 + 2 fit (306), a fourth pushes out
        // the first, a 248-byte one (246 + 2) the next two: 102 + 248 = 350.
        let mut s = Spool::new(350);
        for (i, sig) in ["s1", "s2", "s3"].iter().enumerate() {
            assert_eq!(s.keep(body(100, i as u8), sig.to_string()), Kept::Yes { dropped: 0, dropped_bytes: 0 });
        }
        assert_eq!(s.keep(body(100, 3), "s4".into()), Kept::Yes { dropped: 1, dropped_bytes: 102 });
        assert_eq!(&*s.oldest().unwrap().signature, "s2");
        assert_eq!(s.keep(body(246, 4), "s5".into()), Kept::Yes { dropped: 2, dropped_bytes: 204 });
        let order: Vec<String> = std::iter::from_fn(|| {
            let r = s.oldest()?;
            s.remove(r.id);
            Some(r.signature.to_string())
        })
        .collect();
        assert_eq!(order, ["s4", "s5"]);
        assert_eq!(s.dropped_total(), 3);
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn a_report_larger_than_the_spool_is_not_kept() {
        let mut s = Spool::new(100);
        assert!(s.fits(98, 2));
        assert!(!s.fits(99, 2));
        assert_eq!(s.keep(body(99, 0), "s1".into()), Kept::TooLarge);
        assert!(s.is_empty());
        assert_eq!(s.dropped_total(), 1);
        assert_eq!(s.keep(body(98, 0), "s2".into()), Kept::Yes { dropped: 0, dropped_bytes: 0 });
        assert_eq!(s.bytes(), 100);
    }

    #[test]
    fn a_report_sent_after_overflow_pushed_it_out_is_not_removed_twice() {
        let mut s = Spool::new(110);
        s.keep(body(100, 0), "s1".into());
        let in_flight = s.oldest().unwrap();
        s.keep(body(100, 1), "s2".into());
        assert!(!s.remove(in_flight.id));
        assert_eq!((s.len(), s.bytes()), (1, 102));
    }
}
