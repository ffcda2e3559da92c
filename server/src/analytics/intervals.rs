//! What the access points page concludes from report times: pure functions,
//! the current time passed in.

/// How many of its latest report times the store hands in per access point.
pub const INTERVAL_SAMPLE: usize = 16;

/// An access point's reporting interval: the median gap between its
/// consecutive reports (times in any order). The median, not the mean, so
/// that one outage or one retry does not move it. None until two reports
/// with a gap have arrived.
pub fn infer_interval(times: &[i64]) -> Option<i64> {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut gaps: Vec<i64> = sorted.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[(gaps.len() - 1) / 2])
}

/// Silent: nothing for more than three of its own intervals.
pub fn is_silent(now: i64, last_report: i64, interval: Option<i64>) -> bool {
    match interval {
        Some(i) => now - last_report > 3 * i,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_the_median_gap() {
        assert_eq!(infer_interval(&[]), None);
        assert_eq!(infer_interval(&[100]), None);
        assert_eq!(infer_interval(&[100, 100]), None, "a retry alone is no interval");
        assert_eq!(infer_interval(&[130, 100, 160]), Some(30));
        // One outage of 600 s and one retry (gap 0) among 30 s gaps.
        assert_eq!(infer_interval(&[0, 30, 60, 60, 660, 690, 720]), Some(30));
        // Lower median of an even count: gaps 10, 20.
        assert_eq!(infer_interval(&[0, 10, 30]), Some(10));
    }

    #[test]
    fn silent_after_three_intervals() {
        assert!(!is_silent(190, 100, Some(30)), "exactly three intervals is not yet silent");
        assert!(is_silent(191, 100, Some(30)));
        assert!(!is_silent(10_000, 100, None), "one report tells no interval");
    }
}
