//! `make bench-devices`: `--randomized-macs merge` on every scene of the
//! real phones in `../shared/data/randomized/` (see `tests/support/scenes.rs`),
//! printed per k; `tests/devices.rs` asserts a floor on a subset of them.
//! A bench target rather than an ignored test, so that `make test`'s
//! `--include-ignored` never runs it.

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use support::scenes::{combinations, run, run_heard, Figures, Heard, DEVICES};
use support::TempDir;

fn main() {
    figures_of_every_scene();
    figures_of_each_device_alone();
}

/// `make bench-devices`: every choice of 2 to 8 devices, summed up by k.
fn figures_of_every_scene() {
    let dir = TempDir::new("devices-bench");
    println!("{:>2} {:>6} {:>8} {:>10} {:>10} {:>12} {:>14} {:>16}", "k", "scenes", "windows", "win.err", "win.max", "naive/win", "distinct est", "distinct naive");
    let (mut both, mut counted) = (0, 0);
    for k in 2..=DEVICES.len() {
        let all: Vec<Figures> = combinations(DEVICES.len(), k).iter().map(|c| run(&dir, c)).collect();
        let n = all.len() as f64;
        let mean = |f: &dyn Fn(&Figures) -> f64| all.iter().map(f).sum::<f64>() / n;
        let max = |f: &dyn Fn(&Figures) -> f64| all.iter().map(f).fold(0f64, f64::max);
        both += all.iter().map(|f| f.both_twins).sum::<usize>();
        counted += all.iter().map(|f| f.twins_counted).sum::<usize>();
        println!(
            "{k:>2} {:>6} {:>8} {:>9.1}% {:>9.1}% {:>11.1}x {:>7.2} ({:>+5.1}%) {:>9.1}x (max {:.0}x)",
            all.len(),
            all.iter().map(|f| f.windows).sum::<usize>(),
            100.0 * mean(&|f| f.window_error),
            100.0 * max(&|f| f.window_error),
            mean(&|f| f.naive_ratio),
            mean(&|f| f.distinct_estimated as f64),
            100.0 * mean(&|f| (f.distinct_estimated as f64 - f.k as f64) / f.k as f64),
            mean(&|f| f.distinct_addresses as f64 / f.k as f64),
            max(&|f| f.distinct_addresses as f64 / f.k as f64),
        );
    }
    println!("--- the same scenes with only what hostapd's ubus notification carries (address, signal, time, HT and VHT capabilities)");
    for k in 2..=DEVICES.len() {
        let all: Vec<Figures> = combinations(DEVICES.len(), k).iter().map(|c| run_heard(&dir, c, Heard::AsHostapd)).collect();
        let n = all.len() as f64;
        println!(
            "{k:>2} {:>6} windows {:>5}: per-window error {:>5.1}% (max {:>5.1}%), distinct {:>5.2} for {k} ({:>+6.1}%)",
            all.len(),
            all.iter().map(|f| f.windows).sum::<usize>(),
            100.0 * all.iter().map(|f| f.window_error).sum::<f64>() / n,
            100.0 * all.iter().map(|f| f.window_error).fold(0f64, f64::max),
            all.iter().map(|f| f.distinct_estimated as f64).sum::<f64>() / n,
            100.0 * all.iter().map(|f| (f.distinct_estimated as f64 - k as f64) / k as f64).sum::<f64>() / n,
        );
    }
    let pair = run(&dir, &[0, 1]);
    println!(
        "the two iPhone 11 alone: {} windows with both, {} counted as two ({:.0}%); {} distinct estimated; over all scenes: {} of {} windows with both had at least as many estimates as devices",
        pair.both_twins,
        pair.twins_counted,
        100.0 * pair.twins_counted as f64 / pair.both_twins.max(1) as f64,
        pair.distinct_estimated,
        counted,
        both
    );
}

/// `make bench-devices`: each device alone, a scene of one.
fn figures_of_each_device_alone() {
    let dir = TempDir::new("devices-single");
    for i in 0..DEVICES.len() {
        println!("{}: {:?}", DEVICES[i], run(&dir, &[i]));
    }
}
