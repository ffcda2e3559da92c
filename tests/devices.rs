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
    let (mut within, mut scenes) = (0, 0);
    for chosen in floor_scenes() {
        let f = run(&dir, &chosen);
        let distinct_error = (f.distinct_estimated as f64 - f.k as f64).abs() / f.k as f64;
        println!("{chosen:?}: {f:?}");
        if chosen == [0, 1] && (f.both_twins == 0 || 100 * f.twins_counted < FLOOR_TWINS_PERCENT * f.both_twins) {
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
        if distinct_error > FLOOR_DISTINCT_ERROR {
            failures.push(format!("{chosen:?}: {} distinct devices estimated for {}", f.distinct_estimated, f.k));
        } else {
            within += 1;
        }
        scenes += 1;
    }
    println!("worst per-window error {worst_window:.3}, worst distinct-device error {worst_distinct:.3}, {within} of {scenes} scenes within 20 %");
    // Over ubus hostapd passes on less (see README): a floor of its own.
    let mut worst_hostapd = 0f64;
    let mut within_hostapd = 0;
    for chosen in floor_scenes() {
        let f = run_heard(&dir, &chosen, Heard::AsHostapd);
        println!("as over ubus {chosen:?}: {f:?}");
        worst_hostapd = worst_hostapd.max(f.window_error);
        within_hostapd += (f.distinct_estimated.abs_diff(f.k) * 5 <= f.k) as usize;
        if f.window_error > FLOOR_HOSTAPD_WINDOW_ERROR {
            failures.push(format!("as over ubus {chosen:?}: per-window error {:.3}", f.window_error));
        }
    }
    println!("as over ubus: worst per-window error {worst_hostapd:.3}, {within_hostapd} of {scenes} scenes' distinct devices within 20 %");
    if within_hostapd < FLOOR_HOSTAPD_WITHIN * scenes / 100 {
        failures.push(format!("as over ubus: {within_hostapd} of {scenes} scenes' distinct devices within 20 %"));
    }
    assert!(failures.is_empty(), "below the floor:\n{}", failures.join("\n"));
}

/// The floor of the per-window error: the method reaches at most 10.2 %
/// on these scenes (the two iPhone 11; see README), the goal is 15 %.
const FLOOR_WINDOW_ERROR: f64 = 0.12;
/// Over a scene, the distinct devices (the pseudonyms a server counts):
/// every scene is within 20 % of k, most exactly k (README); a second
/// pseudonym for a device whose signal jumps fails it at k of 2 to 4.
const FLOOR_DISTINCT_ERROR: f64 = 0.2;
/// The two iPhone 11 alone, counted as two in at least this share of the
/// windows where both are (it reaches 65 %: 11 of 17).
const FLOOR_TWINS_PERCENT: usize = 55;
/// Over ubus (only the HT and VHT capabilities, no sequence numbers): the
/// method reaches at most 12.5 % on these scenes.
const FLOOR_HOSTAPD_WINDOW_ERROR: f64 = 0.2;
/// Over ubus, the share (percent) of these scenes whose distinct devices
/// are within 20 %: the method reaches 74 % (14 of 19).
const FLOOR_HOSTAPD_WITHIN: usize = 65;


