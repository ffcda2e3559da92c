//! `--randomized-macs merge` measured on scenes of real phones (see
//! `support::scenes`): the estimate per 30 s window and over the scene
//! against the truth of the files, beside the naive count of addresses.
//! `floor` asserts a floor somewhat below what the method reaches, so that
//! a regression fails; `make bench-devices` prints every scene's figures.

mod support;

use support::scenes::{combinations, devices, run, run_heard, Heard, DEVICES};
use support::TempDir;

/// Every k from 2 to all eight: the first, middle and last choice of each
/// size in lexicographic order, and the two identical iPhone 11 alone.
fn floor_scenes() -> Vec<Vec<usize>> {
    let mut scenes = vec![vec![0, 1]];
    for k in 2..=DEVICES.len() {
        let all = combinations(DEVICES.len(), k);
        for pick in [0, all.len() / 2, all.len() - 1] {
            if !scenes.contains(&all[pick]) {
                scenes.push(all[pick].clone());
            }
        }
    }
    scenes
}

#[test]
fn floor() {
    assert_eq!(devices().len(), 8);
    let dir = TempDir::new("devices-floor");
    let mut worst_window = 0f64;
    let mut worst_distinct = 0f64;
    let mut failures = Vec::new();
    for chosen in floor_scenes() {
        let f = run(&dir, &chosen);
        let distinct_error = (f.distinct_estimated as f64 - f.k as f64).abs() / f.k as f64;
        println!("{chosen:?}: {f:?}");
        if chosen == [0, 1] && (f.both_twins == 0 || 2 * f.twins_counted < f.both_twins) {
            failures.push(format!("the two iPhone 11: counted as two in {} of {} windows with both", f.twins_counted, f.both_twins));
        }
        worst_window = worst_window.max(f.window_error);
        worst_distinct = worst_distinct.max(distinct_error);
        // The naive count is far off over a scene: what the method is for.
        if f.distinct_addresses < 3 * f.k {
            failures.push(format!("{chosen:?}: only {} addresses for {} devices", f.distinct_addresses, f.k));
        }
        if f.window_error > FLOOR_WINDOW_ERROR {
            failures.push(format!("{chosen:?}: per-window error {:.3}", f.window_error));
        }
        let slack = (f.k / 4).max(1);
        if f.distinct_estimated > f.k + slack || f.distinct_estimated + slack < f.k {
            failures.push(format!("{chosen:?}: {} distinct devices estimated for {}", f.distinct_estimated, f.k));
        }
    }
    println!("worst per-window error {worst_window:.3}, worst distinct-device error {worst_distinct:.3}");
    // Over ubus hostapd passes on less (see README): a floor of its own.
    let mut worst_hostapd = 0f64;
    for chosen in floor_scenes() {
        let f = run_heard(&dir, &chosen, Heard::AsHostapd);
        println!("as over ubus {chosen:?}: {f:?}");
        worst_hostapd = worst_hostapd.max(f.window_error);
        if f.window_error > FLOOR_HOSTAPD_WINDOW_ERROR {
            failures.push(format!("as over ubus {chosen:?}: per-window error {:.3}", f.window_error));
        }
    }
    println!("as over ubus: worst per-window error {worst_hostapd:.3}");
    assert!(failures.is_empty(), "below the floor:\n{}", failures.join("\n"));
}

/// The floor of the per-window error: the method reaches at most 8.5 %
/// on these scenes (the two iPhone 11; see README), the goal is 15 %.
/// Over a scene the distinct devices may be off by a quarter of k, at
/// least one (it reaches one too many wherever iPhone11-C is, whose signal
/// moves by 18 dB between two scans); the two iPhone 11 must be counted as
/// two in at least half the windows where both are (it reaches 71 %).
const FLOOR_WINDOW_ERROR: f64 = 0.12;
/// Over ubus (only the HT and VHT capabilities, no sequence numbers): the
/// method reaches at most 12.5 % on these scenes.
const FLOOR_HOSTAPD_WINDOW_ERROR: f64 = 0.2;


