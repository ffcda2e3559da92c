//! The query API's parameters: decoded query pairs in, a checked `ApiQuery`
//! (or a message naming the parameter) out; ISO 8601 times both ways. Pure.

use crate::time::{format_iso_millis, parse_utc, parse_utc_offset};

pub const LIMIT_DEFAULT: usize = 100;
pub const LIMIT_MAX: usize = 1000;
/// Without `since`, the day before `until`.
pub const DEFAULT_SPAN: i64 = 86_400;
/// Events and totals read visits; bound the range one request may ask for.
pub const SPAN_MAX_DAYS: i64 = 31;

pub const PARAMETERS: [&str; 7] = ["nonce", "location_id", "channel_id", "since", "until", "limit", "offset"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiQuery {
    pub location_id: Option<u64>,
    /// Upper case.
    pub channel_id: Option<String>,
    pub since: i64,
    pub until: i64,
    pub limit: usize,
    pub offset: usize,
}

impl ApiQuery {
    pub fn parse(pairs: &[(String, String)], now: i64) -> Result<ApiQuery, String> {
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in pairs {
            if !PARAMETERS.contains(&k.as_str()) {
                return Err(format!("unknown parameter {k:?}; the parameters are {}", PARAMETERS.join(", ")));
            }
            if seen.contains(&k.as_str()) {
                return Err(format!("{k}: given more than once"));
            }
            seen.push(k);
        }
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
        let location_id = match get("location_id") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| format!("location_id: {v:?} is not a network id"))?),
            None => None,
        };
        let channel_id = match get("channel_id") {
            Some(v) if presenced_report::is_colon_mac(v) => Some(v.to_ascii_uppercase()),
            Some(v) => return Err(format!("channel_id: {v:?} is not an access point MAC like AC:86:74:82:9A:30")),
            None => None,
        };
        let time = |name: &str| -> Result<Option<i64>, String> {
            match get(name) {
                Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                    format!("{name}: {v:?} is not a time like 2020-10-12T14:00:00Z, 2020-10-13T06:12:00.000+01:00 or Unix seconds")
                }),
                None => Ok(None),
            }
        };
        let until = time("until")?.unwrap_or(now);
        let since = time("since")?.unwrap_or(until - DEFAULT_SPAN);
        if until <= since {
            return Err("until: must be later than since".to_string());
        }
        if until - since > SPAN_MAX_DAYS * 86_400 {
            return Err(format!("since: at most {SPAN_MAX_DAYS} days between since and until"));
        }
        let number = |name: &str, default: usize, max: usize| -> Result<usize, String> {
            match get(name) {
                Some(v) => v.parse::<usize>().ok().filter(|n| *n <= max).ok_or_else(|| format!("{name}: {v:?} is not a number from 0 to {max}")),
                None => Ok(default),
            }
        };
        let limit = number("limit", LIMIT_DEFAULT, LIMIT_MAX)?;
        if limit == 0 {
            return Err(format!("limit: must be 1 to {LIMIT_MAX}"));
        }
        let offset = number("offset", 0, usize::MAX)?;
        Ok(ApiQuery { location_id, channel_id, since, until, limit, offset })
    }
}

/// ISO 8601 as the seed's examples send it (`2020-10-12T14:00:00Z`,
/// `2020-10-13T06:12:00.000+01:00`), without a zone meaning UTC, or Unix
/// seconds. A space where the offset's `+` was stands for it: a `+` sent
/// without percent encoding arrives decoded as a space.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim_start();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (local, offset) = if let Some(t) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        (t, 0)
    } else if text.len() > 6 && matches!(text.as_bytes()[text.len() - 6], b'+' | b'-' | b' ') && text.as_bytes()[text.len() - 3] == b':' {
        let (t, zone) = text.split_at(text.len() - 6);
        let zone = zone.replacen(' ', "+", 1);
        (t, parse_utc_offset(&zone)?)
    } else {
        (text, 0)
    };
    // Fractions of a second are dropped: times here are whole seconds.
    let local = match local.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) => whole,
        Some(_) => return None,
        None => local,
    };
    if !local.contains('T') && !local.contains(' ') && local.len() != 10 {
        return None;
    }
    Some(parse_utc(local)? - offset)
}

/// `2000-01-23T04:56:07.000+00:00` at `utc_offset` seconds east of UTC.
pub fn format_time(t: i64, utc_offset: i64) -> String {
    format_iso_millis(t, utc_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<ApiQuery, String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ApiQuery::parse(&pairs, 1_000_000)
    }

    // Expected values from GNU date: date -u -d '2020-10-12T14:00:00Z' +%s
    // and date -u -d '2020-10-13T06:12:00+01:00' +%s.
    #[test]
    fn times_as_the_seed_writes_them() {
        assert_eq!(parse_time("2020-10-12T14:00:00Z"), Some(1_602_511_200));
        assert_eq!(parse_time("2020-10-13T06:12:00.000+01:00"), Some(1_602_565_920));
        assert_eq!(parse_time("2020-10-13T06:12:00.000 01:00"), Some(1_602_565_920), "a + decoded to a space");
        assert_eq!(parse_time("2020-10-13T06:12:00-04:30"), Some(1_602_585_720));
        assert_eq!(parse_time("2020-10-12T14:00"), Some(1_602_511_200));
        assert_eq!(parse_time("1602511200"), Some(1_602_511_200));
        for bad in ["", "yesterday", "2020-10-12T14:00:00+1:00", "2020-10-12T14:00:00.Z", "2020-13-01T00:00:00Z", "2020-10-12T14:00:00+15:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(format_time(1_602_565_920, 3600), "2020-10-13T06:12:00.000+01:00");
        assert_eq!(format_time(1_602_511_200, 0), "2020-10-12T14:00:00.000+00:00");
    }

    #[test]
    fn parameters_are_checked_and_named() {
        let ok = q(&[("nonce", "5"), ("location_id", "32"), ("channel_id", "ac:86:74:82:9a:30"), ("limit", "10")]).unwrap();
        assert_eq!(ok, ApiQuery { location_id: Some(32), channel_id: Some("AC:86:74:82:9A:30".into()), since: 1_000_000 - 86_400, until: 1_000_000, limit: 10, offset: 0 });
        let err = |pairs: &[(&str, &str)]| q(pairs).unwrap_err();
        assert!(err(&[("location", "32")]).starts_with("unknown parameter \"location\""));
        assert!(err(&[("location_id", "x")]).starts_with("location_id"));
        assert!(err(&[("channel_id", "lobby")]).starts_with("channel_id"));
        assert!(err(&[("since", "soon")]).starts_with("since"));
        assert!(err(&[("since", "2000"), ("until", "1000")]).starts_with("until"));
        assert!(err(&[("since", "0"), ("until", "9000000")]).starts_with("since"));
        assert!(err(&[("limit", "0")]).starts_with("limit"));
        assert!(err(&[("limit", "1001")]).starts_with("limit"));
        assert!(err(&[("offset", "-1")]).starts_with("offset"));
        assert!(err(&[("nonce", "1"), ("nonce", "2")]).starts_with("nonce"));
    }
}
