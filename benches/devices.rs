//! `make bench-devices`: `--randomized-macs merge` on every scene of the
//! real phones in `../shared/data/randomized/` (see `tests/support/scenes.rs`),
//! printed per k; `tests/devices.rs` asserts a floor on a subset of them.
//! A bench target rather than an ignored test, so that `make test`'s
//! `--include-ignored` never runs it.

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use support::scenes::{combinations, replay_merge, run, run_heard, write_scene, Figures, Heard, DEVICES, RATE_SECS};
use support::TempDir;

fn main() {
    if let Ok(list) = std::env::var("DEVICES_BENCH_SCENE") {
        let chosen: Vec<usize> = list.split(',').filter_map(|i| i.trim().parse().ok()).filter(|i| *i < DEVICES.len()).collect();
        return windows_of_one_scene(&chosen);
    }
    figures_of_every_scene();
    figures_of_each_device_alone();
}

/// The sizes of scene to run: all, or those `DEVICES_BENCH_K` lists
/// (comma separated), to try a change on a few quickly.
fn sizes() -> Vec<usize> {
    match std::env::var("DEVICES_BENCH_K") {
        Ok(list) => list.split(',').filter_map(|k| k.trim().parse().ok()).filter(|k| (2..=DEVICES.len()).contains(k)).collect(),
        Err(_) => (2..=DEVICES.len()).collect(),
    }
}

/// |estimate - k| / k of each scene's distinct devices.
fn distinct_error(f: &Figures) -> f64 {
    (f.distinct_estimated as f64 - f.k as f64).abs() / f.k as f64
}

/// The error of the scene at quantile `q` (nearest rank) of `errors`.
fn quantile(errors: &mut [f64], q: f64) -> f64 {
    errors.sort_by(f64::total_cmp);
    let rank = ((q * errors.len() as f64).ceil() as usize).clamp(1, errors.len());
    errors[rank - 1]
}

/// What a server counting pseudonyms sees: the share of scenes whose
/// distinct devices are within 20 % of the truth, and the spread.
fn distinct_summary(all: &[Figures]) -> String {
    let mut errors: Vec<f64> = all.iter().map(distinct_error).collect();
    let within = errors.iter().filter(|e| **e <= 0.2 + 1e-9).count();
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    format!(
        "within 20 %: {within}/{} ({:.0}%), |error| mean {:.1}% p90 {:.1}% worst {:.1}%",
        errors.len(),
        100.0 * within as f64 / errors.len() as f64,
        100.0 * mean,
        100.0 * quantile(&mut errors, 0.9),
        100.0 * quantile(&mut errors, 1.0),
    )
}

fn twins_summary(all: &[Figures]) -> String {
    let both: usize = all.iter().map(|f| f.both_twins).sum();
    let counted: usize = all.iter().map(|f| f.twins_counted).sum();
    format!("the two iPhone 11 counted as two in {counted} of {both} windows with both ({:.0}%)", 100.0 * counted as f64 / both.max(1) as f64)
}

/// `make bench-devices`: every choice of 2 to 8 devices, summed up by k.
fn figures_of_every_scene() {
    let dir = TempDir::new("devices-bench");
    for heard in [Heard::Monitor, Heard::AsHostapd] {
        match heard {
            Heard::Monitor => println!("--- a monitor interface"),
            Heard::AsHostapd => println!(
                "--- the same scenes with only what hostapd's ubus notification carries (address, signal, time, HT and VHT capabilities)"
            ),
        }
        println!(
            "{:>2} {:>6} {:>8} {:>10} {:>10} {:>12} {:>14} {:>16}  distinct devices per scene",
            "k", "scenes", "windows", "win.err", "win.max", "naive/win", "distinct est", "distinct naive"
        );
        let mut every = Vec::new();
        for k in sizes() {
            let all: Vec<Figures> = combinations(DEVICES.len(), k).iter().map(|c| run_heard(&dir, c, heard)).collect();
            let n = all.len() as f64;
            let mean = |f: &dyn Fn(&Figures) -> f64| all.iter().map(f).sum::<f64>() / n;
            let max = |f: &dyn Fn(&Figures) -> f64| all.iter().map(f).fold(0f64, f64::max);
            println!(
                "{k:>2} {:>6} {:>8} {:>9.1}% {:>9.1}% {:>11.1}x {:>7.2} ({:>+5.1}%) {:>9.1}x (max {:.0}x)  {}",
                all.len(),
                all.iter().map(|f| f.windows).sum::<usize>(),
                100.0 * mean(&|f| f.window_error),
                100.0 * max(&|f| f.window_error),
                mean(&|f| f.naive_ratio),
                mean(&|f| f.distinct_estimated as f64),
                100.0 * mean(&|f| (f.distinct_estimated as f64 - f.k as f64) / f.k as f64),
                mean(&|f| f.distinct_addresses as f64 / f.k as f64),
                max(&|f| f.distinct_addresses as f64 / f.k as f64),
                distinct_summary(&all),
            );
            every.extend(all);
        }
        if every.is_empty() {
            continue;
        }
        let windows: usize = every.iter().map(|f| f.windows).sum();
        println!(
            "all {:>4} {:>8} scenes' per-window error mean {:.1}%; distinct devices {}; {}",
            every.len(),
            windows,
            100.0 * every.iter().map(|f| f.window_error).sum::<f64>() / every.len() as f64,
            distinct_summary(&every),
            twins_summary(&every),
        );
    }
    let pair = run(&dir, &[0, 1]);
    println!(
        "the two iPhone 11 alone: {} windows with both, {} counted as two ({:.0}%); {} distinct estimated",
        pair.both_twins,
        pair.twins_counted,
        100.0 * pair.twins_counted as f64 / pair.both_twins.max(1) as f64,
        pair.distinct_estimated,
    );
}

/// `DEVICES_BENCH_SCENE=0,1 make bench-devices`: one scene's windows, the
/// truth beside the estimate, to see where a change helps or hurts.
fn windows_of_one_scene(chosen: &[usize]) {
    let dir = TempDir::new("devices-scene");
    let path = dir.path().join("scene.pcap");
    let scene = write_scene(chosen, &path);
    let reported = replay_merge(&path);
    for (i, (w, r)) in scene.windows.iter().zip(&reported).enumerate() {
        let estimates: Vec<String> = r.estimated.iter().map(|(mac, count)| format!("{}x{count}", &mac[12..])).collect();
        println!("{:>4} s truth {:?} ({} frames) estimate {}", i as i64 * RATE_SECS, w.devices, w.randomized_frames, estimates.join(" "));
    }
}

/// `make bench-devices`: each device alone, a scene of one.
fn figures_of_each_device_alone() {
    let dir = TempDir::new("devices-single");
    for i in 0..DEVICES.len() {
        println!("{}: {:?}", DEVICES[i], run(&dir, &[i]));
    }
}
