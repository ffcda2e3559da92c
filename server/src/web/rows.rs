//! The rows page: the filter form, a page of stored rows, the pager.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::{encode_query, layout, Tab};
use crate::config::Network;
use crate::store::StoredRow;
use crate::time::format_utc;

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

pub fn network_label(networks: &BTreeMap<u64, Network>, id: i64) -> String {
    match u64::try_from(id).ok().and_then(|id| networks.get(&id)) {
        Some(n) => format!("{} ({})", n.name, n.id),
        None => id.to_string(),
    }
}

fn field<'a>(values: &'a BTreeMap<&'static str, String>, name: &str) -> &'a str {
    values.get(name).map(String::as_str).unwrap_or("")
}

fn form(values: &BTreeMap<&'static str, String>) -> Markup {
    let value = |name: &str| field(values, name);
    html! {
        form class="filters" id="filters" method="get" action="/" {
            @for (name, label, placeholder) in [
                ("mac", "Client MAC (or its beginning)", "e.g. 00:9a:cd"),
                ("node_mac", "Access point MAC", "e.g. AC:86:74"),
                ("network_id", "Network id", "e.g. 221234"),
                ("since", "Received since (UTC)", "e.g. 2026-12-01T18:00"),
                ("until", "Received until (UTC)", "e.g. 2026-12-01T18:00"),
            ] {
                label { (label) input type="text" name=(name) id=(format!("f-{name}")) value=(value(name)) placeholder=(placeholder); }
            }
            label { "Associated"
                select name="associated" id="f-associated" {
                    @for (val, text) in [("", "any"), ("true", "associated"), ("false", "not associated")] {
                        option value=(val) selected[value("associated").eq_ignore_ascii_case(val)] { (text) }
                    }
                }
            }
            button type="submit" id="apply" { "Filter" }
            " "
            a class="button secondary" href="/" id="clear" { "Clear" }
        }
    }
}

pub fn rows_page(v: &RowsView) -> String {
    let value = |name: &str| field(v.values, name);
    if let Some(e) = &v.error {
        return layout("Rows", Tab::Rows, html! { (form(v.values)) p class="error" id="filter-error" { (e) } });
    }
    let filter_pairs: Vec<(&str, &str)> =
        FILTER_FIELDS.iter().map(|f| (*f, value(f))).filter(|(_, v)| !v.is_empty()).collect();
    let first = (v.page - 1) * v.per_page + 1;
    let last = first + v.rows.len() as i64 - 1;
    let export = if filter_pairs.is_empty() { "/export.csv".to_string() } else { format!("/export.csv?{}", encode_query(&filter_pairs)) };
    let page_href = |page: i64| {
        let mut pairs = filter_pairs.clone();
        let page_text = page.to_string();
        let per_page_text = v.per_page.to_string();
        pairs.push(("page", &page_text));
        if v.per_page != crate::filter::PAGE_SIZE_DEFAULT {
            pairs.push(("per_page", &per_page_text));
        }
        format!("/?{}", encode_query(&pairs))
    };
    let content = html! {
        (form(v.values))
        div class="summary" {
            span id="summary" {
                (v.total) " rows match"
                @if !v.rows.is_empty() { "; showing " (first) "–" (last) ", newest first" }
            }
            a class="button secondary" id="export" href=(export) { "Export CSV" }
        }
        @if v.rows.is_empty() {
            p class="muted" id="no-rows" { "No rows." }
        } @else {
            table id="rows" {
                thead { tr {
                    @for h in ["Received (UTC)", "Network", "Access point", "Client MAC", "Count", "Min", "Max", "Avg", "Last signal", "First seen", "Last seen", "Associated"] {
                        th { (h) }
                    }
                } }
                tbody {
                    @for r in v.rows {
                        tr {
                            td { (format_utc(r.received_at)) }
                            td { (network_label(v.networks, r.network_id)) }
                            td class="mac" { (r.node_mac) }
                            td class="mac" { (r.mac) }
                            td class="num" { (r.count) }
                            td class="num" { (r.min_signal) }
                            td class="num" { (r.max_signal) }
                            td class="num" { (r.avg_signal) }
                            td class="num" { (r.last_seen_signal) }
                            td { (format_utc(r.first_seen)) }
                            td { (format_utc(r.last_seen)) }
                            td { @if r.associated { "yes" } @else { "no" } }
                        }
                    }
                }
            }
        }
        div class="pager" {
            @if v.page > 1 { a class="button secondary" id="newer" href=(page_href(v.page - 1)) { "← Newer" } }
            span class="muted" id="page-number" { "page " (v.page) }
            @if v.more { a class="button secondary" id="older" href=(page_href(v.page + 1)) { "Older →" } }
        }
    };
    layout("Rows", Tab::Rows, content)
}
