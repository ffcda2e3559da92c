//! The page's and the CSV export's filters: query parameters in, a checked
//! `RowFilter` (or a message naming the bad parameter) out. Pure.

use std::collections::HashMap;
use std::fmt;

use crate::time::parse_utc;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowFilter {
    /// Lower case; a whole MAC address or its beginning.
    pub mac_prefix: Option<String>,
    pub node_mac_prefix: Option<String>,
    pub network_id: Option<i64>,
    /// Inclusive bounds on received_at, Unix seconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub associated: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub parameter: &'static str,
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.parameter, self.message)
    }
}

pub const PAGE_SIZE_DEFAULT: i64 = 50;
pub const PAGE_SIZE_MAX: i64 = 1000;

/// Which slice of the filtered rows, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based.
    pub number: i64,
    pub size: i64,
}

impl Page {
    pub fn offset(&self) -> i64 {
        (self.number - 1) * self.size
    }
}

impl RowFilter {
    /// Empty values mean "any": an HTML form sends every field.
    pub fn from_query(q: &HashMap<String, String>) -> Result<RowFilter, FilterError> {
        let get = |name: &str| q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut f = RowFilter {
            mac_prefix: get("mac").map(|v| mac_prefix("mac", v)).transpose()?,
            node_mac_prefix: get("node_mac").map(|v| mac_prefix("node_mac", v)).transpose()?,
            ..RowFilter::default()
        };
        if let Some(v) = get("network_id") {
            let id: i64 = v.parse().map_err(|_| FilterError {
                parameter: "network_id",
                message: format!("{v:?} is not a network id (a whole number)"),
            })?;
            f.network_id = Some(id);
        }
        for (name, slot) in [("since", &mut f.since), ("until", &mut f.until)] {
            if let Some(v) = get(name) {
                *slot = Some(parse_utc(v).ok_or_else(|| FilterError {
                    parameter: if name == "since" { "since" } else { "until" },
                    message: format!("{v:?} is not a time: give YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or Unix seconds"),
                })?);
            }
        }
        // A date alone as `until` means the whole of that day.
        if let (Some(v), Some(u)) = (get("until"), f.until.as_mut()) {
            if v.len() == 10 && v.contains('-') {
                *u += 86_399;
            }
        }
        if let (Some(s), Some(u)) = (f.since, f.until) {
            if s > u {
                return Err(FilterError { parameter: "until", message: "is before since".to_string() });
            }
        }
        if let Some(v) = get("associated") {
            f.associated = Some(match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                "any" => return Ok(f),
                _ => {
                    return Err(FilterError {
                        parameter: "associated",
                        message: format!("{v:?} is not true, false or any"),
                    })
                }
            });
        }
        Ok(f)
    }

    pub fn is_empty(&self) -> bool {
        *self == RowFilter::default()
    }
}

impl Page {
    pub fn from_query(q: &HashMap<String, String>) -> Result<Page, FilterError> {
        let number = match q.get("page").map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(v) => v.parse::<i64>().ok().filter(|n| (1..=1_000_000_000).contains(n)).ok_or_else(|| FilterError {
                parameter: "page",
                message: format!("{v:?} is not a page number (1 or more)"),
            })?,
            None => 1,
        };
        let size = match q.get("per_page").map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(v) => v.parse::<i64>().ok().filter(|n| (1..=PAGE_SIZE_MAX).contains(n)).ok_or_else(|| FilterError {
                parameter: "per_page",
                message: format!("{v:?} is not a page size from 1 to {PAGE_SIZE_MAX}"),
            })?,
            None => PAGE_SIZE_DEFAULT,
        };
        Ok(Page { number, size })
    }
}

/// A MAC address, or its first octets, in the colon form; either case.
/// Returned in lower case, which is how the store compares.
fn mac_prefix(parameter: &'static str, v: &str) -> Result<String, FilterError> {
    let ok = v.len() <= 17
        && v.bytes().enumerate().all(|(i, b)| if i % 3 == 2 { b == b':' } else { b.is_ascii_hexdigit() });
    if !ok {
        return Err(FilterError {
            parameter,
            message: format!("{v:?} is not a MAC address or its beginning (like 00:9a:cd or 00:9A:CD:E3:15:49)"),
        });
    }
    Ok(v.trim_end_matches(':').to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn empty_fields_are_no_filter() {
        let f = RowFilter::from_query(&q(&[("mac", ""), ("node_mac", " "), ("associated", ""), ("since", "")])).unwrap();
        assert!(f.is_empty());
        assert_eq!(Page::from_query(&q(&[])).unwrap(), Page { number: 1, size: PAGE_SIZE_DEFAULT });
    }

    #[test]
    fn values_are_normalised() {
        let f = RowFilter::from_query(&q(&[
            ("mac", "00:9A:CD"),
            ("node_mac", "AC:86:74:82:9A:30"),
            ("network_id", "221234"),
            ("since", "2016-10-07T17:18"),
            ("until", "2016-10-07"),
            ("associated", "True"),
        ]))
        .unwrap();
        assert_eq!(f.mac_prefix.as_deref(), Some("00:9a:cd"));
        assert_eq!(f.node_mac_prefix.as_deref(), Some("ac:86:74:82:9a:30"));
        assert_eq!(f.network_id, Some(221234));
        assert_eq!(f.since, Some(1475860680));
        // 2016-10-07 23:59:59 UTC (GNU date).
        assert_eq!(f.until, Some(1475884799));
        assert_eq!(f.associated, Some(true));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let bad = |pairs: &[(&str, &str)]| RowFilter::from_query(&q(pairs)).unwrap_err().parameter;
        assert_eq!(bad(&[("mac", "zz")]), "mac");
        assert_eq!(bad(&[("mac", "00-9a")]), "mac");
        assert_eq!(bad(&[("mac", "00:9a:cd:e3:15:49:00")]), "mac");
        assert_eq!(bad(&[("node_mac", "'; drop table")]), "node_mac");
        assert_eq!(bad(&[("network_id", "abc")]), "network_id");
        assert_eq!(bad(&[("since", "yesterday")]), "since");
        assert_eq!(bad(&[("until", "2016-02-30")]), "until");
        assert_eq!(bad(&[("since", "2016-10-08"), ("until", "2016-10-07T00:00")]), "until");
        assert_eq!(bad(&[("associated", "maybe")]), "associated");
        assert_eq!(Page::from_query(&q(&[("page", "0")])).unwrap_err().parameter, "page");
        assert_eq!(Page::from_query(&q(&[("per_page", "100000")])).unwrap_err().parameter, "per_page");
    }
}
