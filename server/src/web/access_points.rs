//! The access points page: each sender's last report, rate and silence.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::rows::network_label;
use super::{encode_query, layout, Tab};
use crate::config::Network;
use crate::store::{AccessPointStatus, UNKNOWN_NETWORK};
use crate::time::format_utc;

fn ago(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn status(a: &AccessPointStatus, now: i64) -> Markup {
    html! {
        @if a.silent {
            span class="silent" { "SILENT" } " " span class="muted" { (now - a.last_report.unwrap_or(now)) " s without a report" }
        } @else if a.node_mac.is_empty() {
            span class="muted" { "senders not identified" }
        } @else if a.last_report.is_none() {
            span class="silent" { "NO GOOD REPORT" }
        } @else {
            span class="ok" { "reporting" }
        }
    }
}

fn node(a: &AccessPointStatus) -> Markup {
    let network = a.network_id.to_string();
    html! {
        @if a.node_mac.is_empty() {
            span class="muted" { "(unidentified)" }
        } @else {
            a href=(format!("/?{}", encode_query(&[("node_mac", &a.node_mac)]))) { (a.node_mac) }
            @if a.last_report.is_some() && a.network_id >= 0 {
                " "
                a class="muted dashboard-link" href=(format!("/dashboard?{}", encode_query(&[("network_id", &network), ("node_mac", &a.node_mac)]))) { "dashboard" }
            }
        }
    }
}

pub fn access_points_page(aps: &[AccessPointStatus], networks: &BTreeMap<u64, Network>, now: i64) -> String {
    let silent = aps.iter().filter(|a| a.silent).count();
    let identified = aps.iter().filter(|a| !a.node_mac.is_empty()).count();
    let content = html! {
        div class="summary" {
            span id="ap-summary" { (identified) " access points; " (silent) " silent for more than three of their intervals" }
        }
        @if aps.is_empty() {
            p class="muted" { "No reports yet." }
        } @else {
            table id="aps" {
                thead { tr {
                    @for h in ["Status", "Access point", "Network", "Last report (UTC)", "Reports, last hour", "Reports, all", "Interval", "Signature failures"] {
                        th { (h) }
                    }
                } }
                tbody {
                    @for a in aps {
                        tr data-node=(a.node_mac) {
                            td class="status" { (status(a, now)) }
                            td class="mac" { (node(a)) }
                            td {
                                @if a.network_id == UNKNOWN_NETWORK { "(not configured)" } @else { (network_label(networks, a.network_id)) }
                            }
                            td {
                                @match a.last_report {
                                    Some(t) => { (format_utc(t)) " " span class="muted" { "(" (ago(now, t)) ")" } }
                                    None => { "—" }
                                }
                            }
                            td class="num" { (a.reports_last_hour) }
                            td class="num" { (a.reports_total) }
                            td class="num" {
                                @match a.interval { Some(i) => { (i) " s" } None => { "—" } }
                            }
                            td class="num failures" { (a.signature_failures) }
                        }
                    }
                }
            }
        }
    };
    layout("Access points", Tab::AccessPoints, content)
}
