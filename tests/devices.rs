//! `--randomized-macs merge` measured on scenes of real phones (see
//! `support::scenes`): the estimate per 30 s window and over the scene
//! against the truth of the files, beside the naive count of addresses.
//! `floor` asserts a floor somewhat below what the method reaches, so that
//! a regression fails; `make bench-devices` prints every scene's figures.

mod support;

use support::scenes::{combinations, devices, figures, replay_merge, write_scene_heard, Figures, Heard, DEVICES};
use support::TempDir;

fn run(dir: &TempDir, chosen: &[usize]) -> Figures {
    run_heard(dir, chosen, Heard::Monitor)
}

fn run_heard(dir: &TempDir, chosen: &[usize], heard: Heard) -> Figures {
    let path = dir.path().join(format!("scene-{}.pcap", chosen.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("-")));
    let scene = write_scene_heard(chosen, &path, heard);
    let reported = replay_merge(&path);
    let f = figures(&scene, &reported);
    std::fs::remove_file(&path).ok();
    f
}

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

/// `make bench-devices`: every choice of 2 to 8 devices, summed up by k.
#[test]
#[ignore]
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
#[test]
#[ignore]
fn figures_of_each_device_alone() {
    let dir = TempDir::new("devices-single");
    for i in 0..DEVICES.len() {
        println!("{}: {:?}", DEVICES[i], run(&dir, &[i]));
    }
}

