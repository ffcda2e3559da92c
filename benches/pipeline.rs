//! `make bench`: figures for the per-frame path, the report, and memory.
//! Prints numbers; asserts nothing about time (machines differ).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use presenced::wire::frame::{classify, Probe};
use presenced::wire::mac::MacAddr;
use presenced::window::privacy::{Pseudonymizer, Rotation};
use presenced::deliver::report::{Signer, WindowReport};
use presenced::window::table::{Table, Timestamp};

/// Counts live heap bytes and their peak, to measure the table's footprint.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn shared() -> std::path::PathBuf {
    std::env::var_os("PRESENCED_SHARED")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared").into())
}

fn load_frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let dir = shared().join("data/captures");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("shared captures").map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().filter(|p| p.extension().is_some_and(|x| x == "pcap")) {
        let mut cap = pcap::Capture::from_file(f).unwrap();
        while let Ok(p) = cap.next_packet() {
            frames.push(p.data.to_vec());
        }
    }
    frames
}

fn main() {
    let frames = load_frames();
    let rounds = 200;
    let mut table = Table::new(10_000);
    let started = Instant::now();
    let mut accepted = 0u64;
    for round in 0..rounds {
        for (i, f) in frames.iter().enumerate() {
            let at = Timestamp::new(1_700_000_000 + round, i as u32 % 1_000_000);
            table.record(std::hint::black_box(classify(f)), at);
        }
        accepted += table.take_window().stats.accepted;
    }
    let elapsed = started.elapsed();
    let n = frames.len() as f64 * rounds as f64;
    println!("classify+record: {} frames x {rounds} rounds ({accepted} accepted): {:.0} ns/frame, {:.2} M frames/s",
        frames.len(), elapsed.as_nanos() as f64 / n, n / elapsed.as_secs_f64() / 1e6);

    // A full table: 10 000 clients, as the default --max-clients allows,
    // then the largest table --max-clients accepts.
    for clients in [10_000u32, presenced::config::MAX_MAX_CLIENTS as u32] {
        full_table_report(clients);
    }
}

fn full_table_report(clients: u32) {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let base = LIVE.load(Ordering::Relaxed);
    let mut table = Table::new(clients as usize);
    for c in 0..clients {
        let b = c.to_be_bytes();
        let mac = MacAddr([0x02, 0, b[0], b[1], b[2], b[3]]);
        for k in 0..3 {
            table.record(Ok(Probe { client: mac, signal_dbm: -40 - (c % 50) as i8 }), Timestamp::new(1_700_000_000 + k, 0));
        }
    }
    let table_bytes = LIVE.load(Ordering::Relaxed) - base;
    let started = Instant::now();
    let window = table.take_window();
    // What the reporter does: the length, the signature, then the body
    // written through the 8 KiB send buffer (here into a sink).
    let not_associated = |_: &MacAddr| false;
    let report = WindowReport::new(221234, MacAddr([0xac, 0x86, 0x74, 0x82, 0x9a, 0x30]), &window, &not_associated);
    let body_len = report.len();
    let mut signer = Signer::new(b"bench key");
    report.write_to(&mut signer).unwrap();
    let sig = signer.finish();
    let mut wire = std::io::BufWriter::with_capacity(8192, std::io::sink());
    report.write_to(&mut wire).unwrap();
    let build = started.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    // Pseudonyms (daily, the costlier key): once per client and window.
    let mut pseudonymized = window.clone();
    let pseudonyms = Pseudonymizer::new(b"bench pseudonym key".to_vec(), Rotation::Daily);
    let started = Instant::now();
    pseudonyms.apply(&mut pseudonymized, &mut std::collections::BTreeSet::new());
    let pseudonym_ns = started.elapsed().as_nanos() as f64 / clients as f64;
    std::hint::black_box(&pseudonymized);
    println!("table of {clients} clients: {:.1} KiB on the heap", table_bytes as f64 / 1024.0);
    println!("report of {clients} clients: {:.1} KiB body, measured, signed and written in {:.1} ms (peak heap with table and window {:.1} MiB = {:.2}x the body, {} bytes per client; config::MEMORY_PER_CLIENT says {}), signature {}...",
        body_len as f64 / 1024.0, build.as_secs_f64() * 1e3,
        peak as f64 / (1024.0 * 1024.0), peak as f64 / body_len as f64, peak / clients as usize,
        presenced::config::MEMORY_PER_CLIENT, &sig[..8]);
    println!("pseudonyms for the {clients} clients of that window (daily key): {pseudonym_ns:.0} ns per client, {:.1} ms in all",
        pseudonym_ns * clients as f64 / 1e6);
}
