//! HTML from the templates in web/ (compiled into the binary). Pure: rows,
//! filters and the time in, a page out. Every value is escaped.

use std::collections::BTreeMap;

use crate::config::Network;
use crate::store::{AccessPointStatus, StoredRow, UNKNOWN_NETWORK};
use crate::time::format_utc;

pub const STYLE_CSS: &str = include_str!("../web/style.css");
const LAYOUT: &str = include_str!("../web/layout.html");

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// application/x-www-form-urlencoded, as a browser encodes a GET form.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        for (i, part) in [k, v].iter().enumerate() {
            if i == 1 {
                out.push('=');
            }
            for b in part.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
                    b' ' => out.push('+'),
                    _ => out.push_str(&format!("%{b:02X}")),
                }
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Rows,
    AccessPoints,
    Dashboard,
}

pub fn layout(title: &str, tab: Tab, content: &str) -> String {
    let current = |t: Tab| if t == tab { r#" aria-current="page""# } else { "" };
    LAYOUT
        .replace("{{title}}", &escape(title))
        .replace("{{rows_current}}", current(Tab::Rows))
        .replace("{{aps_current}}", current(Tab::AccessPoints))
        .replace("{{dash_current}}", current(Tab::Dashboard))
        .replace("{{content}}", content)
}

/// The filter fields as the user typed them, kept in the form and the links.
pub const FILTER_FIELDS: [&str; 6] = ["mac", "node_mac", "network_id", "since", "until", "associated"];

pub struct RowsView<'a> {
    /// Raw filter values, for the form and the links.
    pub values: &'a BTreeMap<&'static str, String>,
    pub error: Option<String>,
    pub rows: &'a [StoredRow],
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    pub more: bool,
    pub networks: &'a BTreeMap<u64, Network>,
}

pub fn rows_page(v: &RowsView) -> String {
    let value = |name: &str| v.values.get(name).map(String::as_str).unwrap_or("");
    let mut html = String::new();
    html.push_str(r#"<form class="filters" id="filters" method="get" action="/">"#);
    for (name, label, placeholder) in [
        ("mac", "Client MAC (or its beginning)", "00:9a:cd"),
        ("node_mac", "Access point MAC", "AC:86:74"),
        ("network_id", "Network id", "221234"),
    ] {
        html.push_str(&format!(
            r#"<label>{label}<input type="text" name="{name}" id="f-{name}" value="{}" placeholder="e.g. {placeholder}"></label>"#,
            escape(value(name))
        ));
    }
    for (name, label) in [("since", "Received since (UTC)"), ("until", "Received until (UTC)")] {
        html.push_str(&format!(
            r#"<label>{label}<input type="text" name="{name}" id="f-{name}" value="{}" placeholder="e.g. 2026-12-01T18:00"></label>"#,
            escape(value(name))
        ));
    }
    html.push_str(r#"<label>Associated<select name="associated" id="f-associated">"#);
    for (val, text) in [("", "any"), ("true", "associated"), ("false", "not associated")] {
        let selected = if value("associated").eq_ignore_ascii_case(val) { " selected" } else { "" };
        html.push_str(&format!(r#"<option value="{val}"{selected}>{text}</option>"#));
    }
    html.push_str("</select></label>");
    html.push_str(r#"<button type="submit" id="apply">Filter</button> <a class="button secondary" href="/" id="clear">Clear</a></form>"#);

    if let Some(e) = &v.error {
        html.push_str(&format!(r#"<p class="error" id="filter-error">{}</p>"#, escape(e)));
        return layout("Rows", Tab::Rows, &html);
    }

    let filter_pairs: Vec<(&str, &str)> =
        FILTER_FIELDS.iter().map(|f| (*f, value(f))).filter(|(_, v)| !v.is_empty()).collect();
    let first = (v.page - 1) * v.per_page + 1;
    let last = first + v.rows.len() as i64 - 1;
    html.push_str(&format!(
        r#"<div class="summary"><span id="summary">{} rows match{}</span><a class="button secondary" id="export" href="/export.csv{}">Export CSV</a></div>"#,
        v.total,
        if v.rows.is_empty() { String::new() } else { format!("; showing {first}–{last}, newest first") },
        if filter_pairs.is_empty() { String::new() } else { format!("?{}", escape(&encode_query(&filter_pairs))) },
    ));
    if v.rows.is_empty() {
        html.push_str(r#"<p class="muted" id="no-rows">No rows.</p>"#);
    } else {
        html.push_str(r#"<table id="rows"><thead><tr><th>Received (UTC)</th><th>Network</th><th>Access point</th><th>Client MAC</th><th>Count</th><th>Min</th><th>Max</th><th>Avg</th><th>Last signal</th><th>First seen</th><th>Last seen</th><th>Associated</th></tr></thead><tbody>"#);
        for r in v.rows {
            html.push_str(&format!(
                r#"<tr><td>{}</td><td>{}</td><td class="mac">{}</td><td class="mac">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                format_utc(r.received_at),
                escape(&network_label(v.networks, r.network_id)),
                escape(&r.node_mac),
                escape(&r.mac),
                r.count,
                r.min_signal,
                r.max_signal,
                r.avg_signal,
                r.last_seen_signal,
                format_utc(r.first_seen),
                format_utc(r.last_seen),
                if r.associated { "yes" } else { "no" },
            ));
        }
        html.push_str("</tbody></table>");
    }
    html.push_str(r#"<div class="pager">"#);
    let page_link = |page: i64, id: &str, text: &str| {
        let mut pairs = filter_pairs.clone();
        let page_text = page.to_string();
        let per_page_text = v.per_page.to_string();
        pairs.push(("page", &page_text));
        if v.per_page != crate::filter::PAGE_SIZE_DEFAULT {
            pairs.push(("per_page", &per_page_text));
        }
        format!(r#"<a class="button secondary" id="{id}" href="/?{}">{text}</a>"#, escape(&encode_query(&pairs)))
    };
    if v.page > 1 {
        html.push_str(&page_link(v.page - 1, "newer", "← Newer"));
    }
    html.push_str(&format!(r#"<span class="muted" id="page-number">page {}</span>"#, v.page));
    if v.more {
        html.push_str(&page_link(v.page + 1, "older", "Older →"));
    }
    html.push_str("</div>");
    layout("Rows", Tab::Rows, &html)
}

fn network_label(networks: &BTreeMap<u64, Network>, id: i64) -> String {
    match u64::try_from(id).ok().and_then(|id| networks.get(&id)) {
        Some(n) => format!("{} ({})", n.name, n.id),
        None => id.to_string(),
    }
}

fn ago(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

pub fn access_points_page(aps: &[AccessPointStatus], networks: &BTreeMap<u64, Network>, now: i64) -> String {
    let mut html = String::new();
    let silent = aps.iter().filter(|a| a.silent).count();
    html.push_str(&format!(
        r#"<div class="summary"><span id="ap-summary">{} access points; {} silent for more than three of their intervals</span></div>"#,
        aps.iter().filter(|a| !a.node_mac.is_empty()).count(),
        silent
    ));
    if aps.is_empty() {
        html.push_str(r#"<p class="muted">No reports yet.</p>"#);
        return layout("Access points", Tab::AccessPoints, &html);
    }
    html.push_str(r#"<table id="aps"><thead><tr><th>Status</th><th>Access point</th><th>Network</th><th>Last report (UTC)</th><th>Reports, last hour</th><th>Reports, all</th><th>Interval</th><th>Signature failures</th></tr></thead><tbody>"#);
    for a in aps {
        let status = if a.silent {
            format!(r#"<span class="silent">SILENT</span> <span class="muted">{} s without a report</span>"#, now - a.last_report.unwrap_or(now))
        } else if a.node_mac.is_empty() {
            r#"<span class="muted">senders not identified</span>"#.to_string()
        } else if a.last_report.is_none() {
            r#"<span class="silent">NO GOOD REPORT</span>"#.to_string()
        } else {
            r#"<span class="ok">reporting</span>"#.to_string()
        };
        let node = if a.node_mac.is_empty() {
            r#"<span class="muted">(unidentified)</span>"#.to_string()
        } else {
            let rows = format!(r#"<a href="/?{}">{}</a>"#, escape(&encode_query(&[("node_mac", &a.node_mac)])), escape(&a.node_mac));
            if a.last_report.is_some() && a.network_id >= 0 {
                let network = a.network_id.to_string();
                let href = encode_query(&[("network_id", &network), ("node_mac", &a.node_mac)]);
                format!(r#"{rows} <a class="muted dashboard-link" href="/dashboard?{}">dashboard</a>"#, escape(&href))
            } else {
                rows
            }
        };
        let network = if a.network_id == UNKNOWN_NETWORK {
            "(not configured)".to_string()
        } else {
            escape(&network_label(networks, a.network_id))
        };
        let last = match a.last_report {
            Some(t) => format!("{} <span class=\"muted\">({})</span>", format_utc(t), ago(now, t)),
            None => "—".to_string(),
        };
        let interval = a.interval.map(|i| format!("{i} s")).unwrap_or_else(|| "—".to_string());
        html.push_str(&format!(
            r#"<tr data-node="{}"><td class="status">{status}</td><td class="mac">{node}</td><td>{network}</td><td>{last}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{interval}</td><td class="num failures">{}</td></tr>"#,
            escape(&a.node_mac),
            a.reports_last_hour,
            a.reports_total,
            a.signature_failures,
        ));
    }
    html.push_str("</tbody></table>");
    layout("Access points", Tab::AccessPoints, &html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn encodes_like_a_form() {
        assert_eq!(encode_query(&[("mac", "00:9A"), ("since", "2026-12-01 18:00")]), "mac=00%3A9A&since=2026-12-01+18%3A00");
    }
}
