//! Unix seconds to and from UTC calendar text; pure, no clock.
//!
//! The day arithmetic is the usual proleptic-Gregorian conversion via days
//! since 0000-03-01 (eras of 400 years), written out here to avoid a date
//! crate for two functions.

pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// `2016-10-07 17:18:15`, UTC.
pub fn format_utc(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Unix seconds, or a UTC date and time as a browser's datetime-local field
/// sends it: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS` (a space
/// instead of the T, too).
pub fn parse_utc(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i64 = fixed_digits(parts.next()?, 4)?;
    let month: u32 = fixed_digits(parts.next()?, 2)? as u32;
    let day: u32 = fixed_digits(parts.next()?, 2)? as u32;
    if parts.next().is_some() || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = 0;
    if let Some(time) = time {
        let fields: Vec<&str> = time.split(':').collect();
        if fields.len() < 2 || fields.len() > 3 {
            return None;
        }
        let h = fixed_digits(fields[0], 2)?;
        let m = fixed_digits(fields[1], 2)?;
        let s = match fields.get(2) {
            Some(f) => fixed_digits(f, 2)?,
            None => 0,
        };
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        secs = h * 3600 + m * 60 + s;
    }
    Some(days_from_civil(year, month, day) * 86_400 + secs)
}

fn fixed_digits(s: &str, len: usize) -> Option<i64> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from GNU date: `date -u -d @1475860695 '+%F %T'` and
    // `date -u -d '2000-02-29 23:59:59' +%s`.
    #[test]
    fn known_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1475860695), "2016-10-07 17:18:15");
        assert_eq!(format_utc(951868799), "2000-02-29 23:59:59");
        assert_eq!(format_utc(4107542400), "2100-03-01 00:00:00");
        assert_eq!(parse_utc("2000-02-29 23:59:59"), Some(951868799));
        assert_eq!(parse_utc("2016-10-07T17:18"), Some(1475860680));
        assert_eq!(parse_utc("2016-10-07"), Some(1475798400));
        assert_eq!(parse_utc("1475860695"), Some(1475860695));
    }

    #[test]
    fn every_day_round_trips() {
        for days in -1000..100_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn rejects_what_is_not_a_date() {
        for bad in ["", "yesterday", "2016-13-01", "2016-02-30", "2015-02-29", "2016-1-1", "2016-10-07T25:00",
                    "2016-10-07T10", "2016-10-07T10:00:00:00", "-5", "2016-10-07Tab:cd"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
