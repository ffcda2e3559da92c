//! Unix seconds to and from UTC calendar text; pure, no clock. The calendar
//! is the `time` crate's; what is here is which texts are accepted.

use ::time::format_description::BorrowedFormatItem;
use ::time::macros::format_description;
use ::time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

const DATE: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");
const MINUTES: &[BorrowedFormatItem<'_>] = format_description!("[hour]:[minute]");
const SECONDS: &[BorrowedFormatItem<'_>] = format_description!("[hour]:[minute]:[second]");
const DATE_TIME: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const DATE_TIME_MILLIS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]");
const DATE_MINUTES: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day] [hour]:[minute]");
const ISO_MILLIS: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
);
const OFFSET: &[BorrowedFormatItem<'_>] = format_description!("[offset_hour sign:mandatory]:[offset_minute]");

/// The moment, or None outside the years -9999..=9999 that `time` covers.
fn utc(secs: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// `2016-10-07 17:18:15`, UTC. A time beyond the year 9999 (no report sends
/// one, a hand-made row could) shows as its Unix seconds.
pub fn format_utc(secs: i64) -> String {
    utc(secs).and_then(|t| t.format(DATE_TIME).ok()).unwrap_or_else(|| secs.to_string())
}

/// `2016-10-07 17:18:15.000`, UTC: Camlytics' webhooks' `event_time`.
pub fn format_utc_millis(secs: i64) -> String {
    utc(secs).and_then(|t| t.format(DATE_TIME_MILLIS).ok()).unwrap_or_else(|| secs.to_string())
}

/// `2016-10-07 17:18`, UTC (an hour's label).
pub fn format_utc_minutes(secs: i64) -> String {
    utc(secs).and_then(|t| t.format(DATE_MINUTES).ok()).unwrap_or_else(|| secs.to_string())
}

/// `2016-10-07`, UTC (a day's label).
pub fn format_utc_day(secs: i64) -> String {
    utc(secs).and_then(|t| t.format(DATE).ok()).unwrap_or_else(|| secs.to_string())
}

/// `2000-01-23T04:56:07.000+00:00`: `secs` at `utc_offset` seconds east of
/// UTC (within ±14:00; another offset is shown as UTC).
pub fn format_iso_millis(secs: i64, utc_offset: i64) -> String {
    let offset = i32::try_from(utc_offset).ok().and_then(|o| UtcOffset::from_whole_seconds(o).ok()).unwrap_or(UtcOffset::UTC);
    match utc(secs).and_then(|t| t.checked_to_offset(offset)).and_then(|t| t.format(ISO_MILLIS).ok()) {
        Some(text) => text,
        None => secs.to_string(),
    }
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
    // `time` reads a year of up to six digits and a sign; ours are four.
    if date.split('-').next().is_none_or(|year| year.len() != 4) {
        return None;
    }
    let date = Date::parse(date, DATE).ok()?;
    let time = match time {
        None => Time::MIDNIGHT,
        Some(t) => Time::parse(t, MINUTES).or_else(|_| Time::parse(t, SECONDS)).ok()?,
    };
    Some(PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp())
}

/// `+HH:MM` or `-HH:MM` (within ±14:00) to seconds east of UTC.
pub fn parse_utc_offset(text: &str) -> Option<i64> {
    // `time` takes a single-digit hour too; the offsets written here have two.
    if text.len() != 6 {
        return None;
    }
    let offset = UtcOffset::parse(text, OFFSET).ok()?;
    let secs = i64::from(offset.whole_seconds());
    (secs.abs() <= 14 * 3600).then_some(secs)
}

/// `+01:00` from 3600.
pub fn format_utc_offset(secs: i64) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    match i32::try_from(secs).ok().and_then(|s| UtcOffset::from_whole_seconds(s).ok()).and_then(|o| o.format(OFFSET).ok()) {
        Some(text) => text,
        // Beyond ±25:59:59, which no configuration allows.
        None => format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60),
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
        assert_eq!(format_utc_minutes(1475860695), "2016-10-07 17:18");
        assert_eq!(format_utc_day(1475860695), "2016-10-07");
        assert_eq!(format_utc_millis(1475860695), "2016-10-07 17:18:15.000");
        assert_eq!(format_utc_millis(i64::MAX), i64::MAX.to_string());
        // Past the year 9999: the seconds, not a panic.
        assert_eq!(format_utc(i64::MAX), i64::MAX.to_string());
        // `date -d @1602565920 +%FT%T.000%:z` with TZ=Etc/GMT-1.
        assert_eq!(format_iso_millis(1_602_565_920, 3600), "2020-10-13T06:12:00.000+01:00");
        assert_eq!(format_iso_millis(1_602_565_920, -16_200), "2020-10-13T00:42:00.000-04:30");
    }

    // Every day from 1967 to 2243 at 00:00 and at 23:59:59 comes back; the
    // count of days is the calendar's (GNU date: 2243-10-17 is day 100,000).
    #[test]
    fn every_day_round_trips() {
        for days in -1000..100_000i64 {
            for secs in [days * 86_400, days * 86_400 + 86_399] {
                assert_eq!(parse_utc(&format_utc(secs)), Some(secs), "{secs}");
            }
        }
        assert_eq!(format_utc(100_000 * 86_400), "2243-10-17 00:00:00");
    }

    #[test]
    fn rejects_what_is_not_a_date() {
        for bad in ["", "yesterday", "2016-13-01", "2016-02-30", "2015-02-29", "2016-1-1", "2016-10-07T25:00",
                    "2016-10-07T10", "2016-10-07T10:00:00:00", "-5", "2016-10-07Tab:cd", "+02016-10-07", "12016-10-07"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    // The rest of the offsets' cases are in analytics::visits' tests.
    #[test]
    fn offsets_have_two_digit_hours() {
        for bad in ["+0100", "+01:00 ", "+1:5", "+001:00"] {
            assert_eq!(parse_utc_offset(bad), None, "{bad}");
        }
        assert_eq!(format_utc_offset(0), "+00:00");
    }
}
