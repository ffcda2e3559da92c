//! The dashboard: metrics in, HTML with server-side SVG charts and each
//! chart's CSV out. Pure. Every chart is drawn from a `Table`, and its CSV
//! export is that same table, so what is exported is what is drawn.
//!
//! Server-side SVG rather than a JavaScript chart library: the charts are
//! bars and lines over at most a few hundred buckets, which SVG draws
//! without any code in the browser, nothing to vendor or keep up to date,
//! and the page works with scripts off.

use crate::analytics::metrics::{Bucket, Counts, Metrics, Range, Split, DWELL_LABELS};
use maud::{html, Markup};

use super::{encode_query, layout, Tab};

/// One cell: a count, a rate, or nothing (a rate without visits).
pub type Cell = Option<f64>;

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub id: &'static str,
    pub title: &'static str,
    /// The first column is the label (a bucket's local start, a dwell bin).
    pub columns: Vec<&'static str>,
    pub rows: Vec<(String, Vec<Cell>)>,
    pub kind: ChartKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// The columns stacked in bars; with `stacks` above one the columns are
    /// split evenly into that many stacks drawn side by side per row (the
    /// universal addresses' beside the estimated devices', so that a bar
    /// never adds the two).
    Stacked { stacks: usize },
    /// One line per column; a missing cell breaks it.
    Lines,
    /// Side by side bars per row, one per column.
    Grouped,
}

/// The longest range the dashboard shows: what it costs is the visits in
/// its range.
pub const VIEW_SPAN_MAX_DAYS: i64 = 93;

pub const CHARTS: [&str; 6] = ["occupancy", "visitors", "capture", "dwell", "new_repeat", "randomized"];

fn count(n: u64) -> Cell {
    Some(n as f64)
}

/// The dashboard's charts for `m`, bucket labels at `utc_offset`.
pub fn tables(m: &Metrics, utc_offset: i64, hourly: bool) -> Vec<Table> {
    let label = |t: i64| {
        if hourly {
            crate::time::format_utc_minutes(t + utc_offset)
        } else {
            crate::time::format_utc_day(t + utc_offset)
        }
    };
    let per_bucket = |f: &dyn Fn(&Split<Counts>) -> Vec<Cell>| -> Vec<(String, Vec<Cell>)> {
        m.buckets.iter().map(|b| (label(b.start), f(&b.counts))).collect()
    };
    let percent = |c: &Counts| c.capture_rate.map(|r| (r * 1000.0).round() / 10.0);
    // Estimated devices are series of their own, labelled so: never added
    // to the universal addresses' figures.
    vec![
        Table {
            id: "occupancy",
            title: "Occupancy (most visitors present at once)",
            columns: vec!["bucket", "visitors present", "estimated devices present"],
            rows: per_bucket(&|c| vec![count(c.universal.peak_occupancy), count(c.estimated_devices.peak_occupancy)]),
            kind: ChartKind::Lines,
        },
        Table {
            id: "visitors",
            title: "Visitors and passersby (estimated devices beside them)",
            columns: vec!["bucket", "visitors", "passersby", "estimated-device visitors", "estimated-device passersby"],
            rows: per_bucket(&|c| {
                let (u, e) = (&c.universal, &c.estimated_devices);
                vec![count(u.visitors), count(u.passersby), count(e.visitors), count(e.passersby)]
            }),
            kind: ChartKind::Stacked { stacks: 2 },
        },
        Table {
            id: "capture",
            title: "Capture rate (%)",
            columns: vec!["bucket", "capture rate %", "estimated devices' capture rate %"],
            rows: per_bucket(&|c| vec![percent(&c.universal), percent(&c.estimated_devices)]),
            kind: ChartKind::Lines,
        },
        Table {
            id: "dwell",
            title: "Dwell time of visitors (whole range)",
            columns: vec!["dwell", "visitors", "estimated-device visitors"],
            rows: DWELL_LABELS
                .iter()
                .zip(m.total.universal.dwell.iter().zip(m.total.estimated_devices.dwell))
                .map(|(l, (n, e))| (l.to_string(), vec![count(*n), count(e)]))
                .collect(),
            kind: ChartKind::Grouped,
        },
        Table {
            id: "new_repeat",
            title: "New and repeat visitors (estimated devices beside them)",
            columns: vec!["bucket", "new", "repeat", "estimated-device new", "estimated-device repeat"],
            rows: per_bucket(&|c| {
                let (u, e) = (&c.universal, &c.estimated_devices);
                vec![count(u.new_visitors), count(u.repeat_visitors), count(e.new_visitors), count(e.repeat_visitors)]
            }),
            kind: ChartKind::Stacked { stacks: 2 },
        },
        Table {
            id: "randomized",
            title: "Randomized addresses, apart (visitors and passersby)",
            columns: vec!["bucket", "visitors", "passersby"],
            rows: per_bucket(&|c| vec![count(c.randomized.visitors), count(c.randomized.passersby)]),
            kind: ChartKind::Stacked { stacks: 1 },
        },
    ]
}

/// The CSS classes of series `k`: its position (`s0`, `s1`, ...) and, for
/// an estimated devices' series, `est0`, `est1`, ... so that estimated
/// devices have the same colours in every chart.
fn series_class(t: &Table, k: usize) -> String {
    let estimated = |c: &str| c.starts_with("estimated");
    if estimated(t.columns[k + 1]) {
        let j = t.columns[1..=k + 1].iter().filter(|c| estimated(c)).count() - 1;
        format!("s{k} est{j}")
    } else {
        format!("s{k}")
    }
}

/// The stack of series `k` of `series` split into `stacks`, and the series
/// of that stack.
fn stack_of(k: usize, series: usize, stacks: usize) -> (usize, std::ops::Range<usize>) {
    let per = series.div_ceil(stacks.max(1)).max(1);
    let stack = k / per;
    (stack, stack * per..((stack + 1) * per).min(series))
}

fn cell_text(c: Cell) -> String {
    match c {
        None => String::new(),
        Some(v) if v.fract() == 0.0 => format!("{}", v as i64),
        Some(v) => format!("{v}"),
    }
}

/// The table as CSV: a header line, then a line per row.
pub fn csv(t: &Table) -> String {
    let mut out = t.columns.join(",");
    out.push('\n');
    for (label, cells) in &t.rows {
        out.push_str(label);
        for c in cells {
            out.push(',');
            out.push_str(&cell_text(*c));
        }
        out.push('\n');
    }
    out
}

const W: f64 = 620.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 34.0;

/// A round number at or above `v` (1, 2 or 5 times a power of ten).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|c| *c >= v).unwrap_or(10.0 * p)
}

/// Gridlines for a top from `nice_ceiling`, so that counts get whole-number
/// ticks: 5 steps of 1 for 5, 4 of 5 for 20, 5 of 20 for 100.
fn tick_count(top: f64) -> usize {
    let mantissa = (top / 10f64.powf(top.log10().floor())).round() as i64;
    match (mantissa, top >= 10.0) {
        (1, true) => 5,
        (1, false) => 1,
        (2, true) => 4,
        (2, false) => 2,
        _ => 5,
    }
}

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// The chart of `t` as an SVG element. Every element has a closing tag:
/// in HTML an SVG element without one would hold the ones after it.
pub fn svg(t: &Table) -> Markup {
    let n = t.rows.len().max(1) as f64;
    let series = t.columns.len() - 1;
    let max = t
        .rows
        .iter()
        .map(|(_, cells)| match t.kind {
            ChartKind::Stacked { stacks } => (0..series)
                .map(|k| cells[stack_of(k, series, stacks).1].iter().flatten().sum::<f64>())
                .fold(0.0, f64::max),
            _ => cells.iter().flatten().cloned().fold(0.0, f64::max),
        })
        .fold(0.0, f64::max);
    let top = if t.id == "capture" { 100.0 } else { nice_ceiling(max) };
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - v / top * plot_h;
    let slot = plot_w / n;
    let ticks = tick_count(top);
    let every = (t.rows.len() / 8).max(1);
    let w = slot * 0.8 / series as f64;
    let line_path = |k: usize| -> String {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, (_, cells)) in t.rows.iter().enumerate() {
            let x = LEFT + slot * (i as f64 + 0.5);
            match cells[k] {
                Some(v) => {
                    path.push_str(&format!("{}{x:.1},{:.1} ", if pen_down { "L" } else { "M" }, y(v)));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        path.trim_end().to_string()
    };
    html! {
        svg class="chart" id=(format!("chart-{}", t.id)) viewBox=(format!("0 0 {W} {H}")) width=(W) height=(H) role="img" aria-label=(t.title) {
            title { (t.title) }
            @for i in 0..=ticks {
                @let v = top * i as f64 / ticks as f64;
                line class="grid" x1=(LEFT) x2=(W - RIGHT) y1=(f1(y(v))) y2=(f1(y(v))) {}
                text class="axis" x=(LEFT - 4.0) y=(f1(y(v) + 4.0)) text-anchor="end" { (cell_text(Some((v * 10.0).round() / 10.0))) }
            }
            @for (i, (label, cells)) in t.rows.iter().enumerate() {
                @let x0 = LEFT + slot * i as f64;
                @if i % every == 0 {
                    // An hour's label is its date and time; the axis has
                    // room for the time (the CSV and the tooltips keep both).
                    text class="axis" x=(f1(x0 + slot / 2.0)) y=(H - BOTTOM + 16.0) text-anchor="middle" {
                        (if label.len() == 16 { &label[11..] } else { label.as_str() })
                    }
                }
                @match t.kind {
                    ChartKind::Stacked { stacks } => {
                        @for (k, c) in cells.iter().enumerate() {
                            @let (stack, members) = stack_of(k, series, stacks);
                            @let base: f64 = cells[members.start..k].iter().map(|c| c.unwrap_or(0.0)).sum();
                            @let v = c.unwrap_or(0.0);
                            @let bar = slot * 0.8 / stacks.max(1) as f64;
                            @if v > 0.0 {
                                rect class=(series_class(t, k)) x=(f1(x0 + slot * 0.1 + bar * stack as f64)) y=(f1(y(base + v))) width=(f1(bar)) height=(f1(y(base) - y(base + v))) {
                                    title { (label) ": " (cell_text(*c)) " " (t.columns[k + 1]) }
                                }
                            }
                        }
                    }
                    ChartKind::Grouped => {
                        @for (k, c) in cells.iter().enumerate() {
                            @let v = c.unwrap_or(0.0);
                            rect class=(series_class(t, k)) x=(f1(x0 + slot * 0.1 + w * k as f64)) y=(f1(y(v))) width=(f1(w)) height=(f1(y(0.0) - y(v))) {
                                title { (label) ": " (cell_text(*c)) " " (t.columns[k + 1]) }
                            }
                        }
                    }
                    ChartKind::Lines => {
                        @for (k, c) in cells.iter().enumerate() {
                            @if let Some(v) = c {
                                circle class=(series_class(t, k)) cx=(f1(LEFT + slot * (i as f64 + 0.5))) cy=(f1(y(*v))) r="2.5" {
                                    title { (label) ": " (cell_text(Some(*v))) }
                                }
                            }
                        }
                    }
                }
            }
            @if t.kind == ChartKind::Lines {
                @for k in 0..series {
                    @let d = line_path(k);
                    @if !d.is_empty() {
                        path class=(format!("line {}", series_class(t, k))) d=(d) {}
                    }
                }
            }
        }
    }
}

/// A chart's box: title, legend, the SVG, its CSV link.
pub fn chart_box(t: &Table, csv_href: &str) -> Markup {
    html! {
        section class="chart-box" id=(format!("box-{}", t.id)) {
            div class="chart-head" {
                h2 { (t.title) }
                a class="button secondary" id=(format!("csv-{}", t.id)) href=(csv_href) { "CSV" }
            }
            div class="legend" {
                @for (k, c) in t.columns[1..].iter().enumerate() {
                    @if k > 0 { " " }
                    span class=(format!("key {}", series_class(t, k))) {} (c)
                }
            }
            (svg(t))
        }
    }
}

/// The summary table: universal addresses, randomized addresses and the
/// agent's estimated devices side by side, never added together.
pub fn summary(m: &Metrics) -> Markup {
    let rate = |c: &Counts| c.capture_rate.map(|r| format!("{:.1} %", r * 100.0)).unwrap_or_else(|| "—".into());
    let t = &m.total;
    let each = |f: &dyn Fn(&Counts) -> String| [f(&t.universal), f(&t.randomized), f(&t.estimated_devices)];
    let now = &m.occupancy_now;
    let rows: [(&str, [String; 3]); 9] = [
        ("Unique clients", each(&|c| c.unique_clients.to_string())),
        ("Visitors", each(&|c| c.visitors.to_string())),
        ("Passersby", each(&|c| c.passersby.to_string())),
        ("Capture rate", each(&rate)),
        ("Connected visits", each(&|c| c.connected.to_string())),
        ("New visitors", each(&|c| c.new_visitors.to_string())),
        ("Repeat visitors", each(&|c| c.repeat_visitors.to_string())),
        ("Peak occupancy", each(&|c| c.peak_occupancy.to_string())),
        ("Occupancy now", [now.universal.to_string(), now.randomized.to_string(), now.estimated_devices.to_string()]),
    ];
    html! {
        table id="totals" class="totals" {
            thead { tr {
                th { "Whole range" } th { "Universal MACs" } th { "Randomized MACs (counted apart)" }
                th { "Estimated devices (counted apart)" }
            } }
            tbody {
                @for (name, cells) in rows {
                    tr id=(format!("t-{}", name.to_ascii_lowercase().replace(' ', "-"))) {
                        td { (name) }
                        @for c in cells { td class="num" { (c) } }
                    }
                }
            }
        }
        p id="estimated-devices-note" class="note" {
            "Estimated devices are rows an access point sent with "
            code { "--randomized-macs merge" }
            ": the probe requests of a phone's changing random addresses, grouped into one device by the "
            "capabilities its frames carry, their sequence numbers and their signal, under a pseudonym. "
            "An estimate, not a count: on the replayed scenes of 2 to 8 phones the per-window device count is off by "
            "0.4 to 2.6 % on average, and the distinct devices over a scene were exact in all 247 scenes; "
            "phones of one model and OS version at a similar signal count as one. See "
            a href=(README_HREF) { "README, “Counting devices, not addresses”" }
            "."
        }
    }
}

/// The README, as the server serves it, at its section on estimated devices.
pub const README_HREF: &str = "/README.md#counting-devices-not-addresses---randomized-macs-merge";

/// The dashboard's query: which network (and access point), the range in
/// the venue's local time, the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardQuery {
    pub network_id: u64,
    /// Upper case.
    pub node_mac: Option<String>,
    pub range: Range,
}

/// The form's fields as typed, kept in the form and the CSV links.
pub const FIELDS: [&str; 5] = ["network_id", "node_mac", "since", "until", "bucket"];

impl DashboardQuery {
    /// `offset_of` gives a network's UTC offset; `since` and `until` are the
    /// venue's local time. Defaults: the last 24 hours by hour, the last 7
    /// days by day.
    pub fn parse(
        query: &std::collections::HashMap<String, String>,
        default_network: Option<u64>,
        offset_of: impl Fn(u64) -> i64,
        now: i64,
    ) -> Result<DashboardQuery, String> {
        let get = |k: &str| query.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let network_id = match get("network_id") {
            Some(v) => v.parse::<u64>().map_err(|_| format!("network_id: {v:?} is not a network id"))?,
            None => default_network.ok_or("network_id: no network has reported yet; nothing to show")?,
        };
        let node_mac = match get("node_mac") {
            Some(v) if presenced_report::is_colon_mac(v) => Some(v.to_ascii_uppercase()),
            Some(v) => return Err(format!("node_mac: {v:?} is not an access point MAC like AC:86:74:82:9A:30")),
            None => None,
        };
        let bucket = match get("bucket") {
            Some(v) => Bucket::parse(v).ok_or_else(|| format!("bucket: {v:?} is not hour or day"))?,
            None => Bucket::Hour,
        };
        let offset = offset_of(network_id);
        let local = |name: &str| -> Result<Option<i64>, String> {
            match get(name) {
                Some(v) => crate::time::parse_utc(v).map(|t| Some(t - offset)).ok_or_else(|| {
                    format!("{name}: {v:?} is not a time like 2026-12-01T18:00 (the venue's local time)")
                }),
                None => Ok(None),
            }
        };
        let until = local("until")?.unwrap_or(now);
        let span = if bucket == Bucket::Hour { 86_400 } else { 7 * 86_400 };
        let since = local("since")?.unwrap_or(until - span);
        if until - since > VIEW_SPAN_MAX_DAYS * 86_400 {
            return Err(format!(
                "since: at most {VIEW_SPAN_MAX_DAYS} days between since and until (a view reads every visit of its range)"
            ));
        }
        let range = Range::new(since, until, bucket, offset)?;
        Ok(DashboardQuery { network_id, node_mac, range })
    }
}

pub struct DashboardView<'a> {
    pub values: &'a std::collections::BTreeMap<&'static str, String>,
    /// (id, label) of every network.
    pub networks: &'a [(u64, String)],
    /// The chosen network's access points.
    pub access_points: &'a [String],
    pub query: Option<&'a DashboardQuery>,
    pub error: Option<String>,
    pub metrics: Option<&'a Metrics>,
}

fn form(v: &DashboardView) -> Markup {
    let value = |name: &str| v.values.get(name).map(String::as_str).unwrap_or("");
    let chosen_network = v.query.map(|q| q.network_id.to_string()).unwrap_or_else(|| value("network_id").to_string());
    html! {
        form class="filters" id="dashboard-form" method="get" action="/dashboard" {
            label { "Network"
                select name="network_id" id="d-network" {
                    @for (id, label) in v.networks {
                        option value=(id) selected[id.to_string() == chosen_network] { (label) }
                    }
                }
            }
            label { "Access point"
                select name="node_mac" id="d-node" {
                    option value="" { "all (the network)" }
                    @for ap in v.access_points {
                        option value=(ap) selected[ap.eq_ignore_ascii_case(value("node_mac"))] { (ap) }
                    }
                }
            }
            @for (name, label) in [("since", "From (venue's local time)"), ("until", "To (venue's local time)")] {
                label { (label) input type="text" name=(name) id=(format!("d-{name}")) value=(value(name)) placeholder="e.g. 2026-12-01T08:00"; }
            }
            label { "Bucket"
                select name="bucket" id="d-bucket" {
                    @for b in ["hour", "day"] {
                        option value=(b) selected[value("bucket") == b] { (b) }
                    }
                }
            }
            button type="submit" id="d-apply" { "Show" }
        }
    }
}

pub fn page(v: &DashboardView) -> String {
    if let Some(e) = &v.error {
        return layout("Dashboard", Tab::Dashboard, html! { (form(v)) p class="error" id="dashboard-error" { (e) } });
    }
    let (Some(q), Some(m)) = (v.query, v.metrics) else {
        return layout("Dashboard", Tab::Dashboard, form(v));
    };
    let scope = match &q.node_mac {
        Some(ap) => format!("access point {ap}"),
        None => "the whole network".to_string(),
    };
    let from = crate::time::format_utc(q.range.since + q.range.utc_offset);
    let to = crate::time::format_utc(q.range.until + q.range.utc_offset);
    let bucket = if q.range.bucket == Bucket::Hour { "hour" } else { "day" };
    let mut pairs: Vec<(&str, String)> = vec![("network_id", q.network_id.to_string())];
    if let Some(ap) = &q.node_mac {
        pairs.push(("node_mac", ap.clone()));
    }
    let local = |t: i64| crate::time::format_utc(t + q.range.utc_offset).replace(' ', "T");
    pairs.push(("since", local(q.range.since)));
    pairs.push(("until", local(q.range.until)));
    pairs.push(("bucket", bucket.into()));
    let csv_href = |chart: &str| {
        let mut with_chart: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with_chart.push(("chart", chart));
        format!("/dashboard.csv?{}", encode_query(&with_chart))
    };
    let content = html! {
        (form(v))
        div class="summary" {
            span id="dashboard-scope" {
                "Network " (q.network_id) " · " (scope) " · " (from) " to " (to) " (UTC" (crate::analytics::visits::format_utc_offset(q.range.utc_offset)) ") by " (bucket)
            }
        }
        (summary(m))
        div class="charts" {
            @for t in tables(m, q.range.utc_offset, q.range.bucket == Bucket::Hour) {
                (chart_box(&t, &csv_href(t.id)))
            }
        }
    };
    layout("Dashboard", Tab::Dashboard, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(kind: ChartKind, rows: Vec<(String, Vec<Cell>)>) -> Table {
        Table { id: "t", title: "T", columns: vec!["bucket", "a", "b"], rows, kind }
    }

    #[test]
    fn a_range_too_long_is_refused_by_name() {
        let q = |since: &str, until: &str| {
            let query: std::collections::HashMap<String, String> =
                [("since", since), ("until", until), ("bucket", "day")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            DashboardQuery::parse(&query, Some(1), |_| 0, 0)
        };
        // 2026-01-01 to 2026-04-04 is 93 days (GNU date: 1775260800 - 1767225600 = 93 * 86400).
        assert!(q("2026-01-01T00:00", "2026-04-04T00:00").is_ok());
        let err = q("2026-01-01T00:00", "2026-04-04T00:01").map(|_| ()).unwrap_err();
        assert!(err.starts_with("since: at most 93 days"), "{err}");
    }

    #[test]
    fn csv_is_the_table() {
        let t = table(ChartKind::Stacked { stacks: 1 }, vec![("10:00".into(), vec![Some(2.0), Some(0.5)]), ("11:00".into(), vec![None, Some(3.0)])]);
        assert_eq!(csv(&t), "bucket,a,b\n10:00,2,0.5\n11:00,,3\n");
    }

    #[test]
    fn stacked_bars_scale_to_a_round_top() {
        // Sums 3 and 7: the top is 10, so 7 fills 70 % of the plot height.
        let t = table(ChartKind::Stacked { stacks: 1 }, vec![("x".into(), vec![Some(1.0), Some(2.0)]), ("y".into(), vec![Some(3.0), Some(4.0)])]);
        let s = svg(&t).into_string();
        let plot_h = H - TOP - BOTTOM;
        assert!(s.contains(&format!(r#"height="{:.1}""#, plot_h * 0.4)), "the 4 of y: {s}");
        assert_eq!(s.matches("<rect").count(), 4);
        assert!(s.contains("<title>y: 4 b</title>"));
        assert_eq!([0.3, 1.0, 1.5, 7.0, 10.0, 11.0, 240.0].map(nice_ceiling), [1.0, 1.0, 2.0, 10.0, 10.0, 20.0, 500.0]);
        // Whole-number steps: 1 for 1, 2 and 5; 2 for 10; 5 for 20; 20 for 100.
        assert_eq!([1.0, 2.0, 5.0, 10.0, 20.0, 100.0].map(tick_count), [1, 2, 5, 5, 4, 5]);
    }

    #[test]
    fn two_stacks_side_by_side_are_never_added() {
        // Universal 1 + 2 beside estimated 4 + 4: the top is the larger
        // stack's 8 rounded to 10, not the 11 of all four.
        let t = Table {
            id: "t",
            title: "T",
            columns: vec!["bucket", "a", "b", "c", "d"],
            rows: vec![("x".into(), vec![Some(1.0), Some(2.0), Some(4.0), Some(4.0)])],
            kind: ChartKind::Stacked { stacks: 2 },
        };
        let s = svg(&t).into_string();
        let plot_h = H - TOP - BOTTOM;
        let plot_w = W - LEFT - RIGHT;
        // One row: the slot is the plot's width, each stack 40 % of it.
        let rects: Vec<(String, String, String)> = s
            .split("<rect ")
            .skip(1)
            .map(|r| {
                let attr = |name: &str| r.split(&format!(" {name}=\"")).nth(1).unwrap().split('"').next().unwrap().to_string();
                (attr("x"), attr("y"), attr("height"))
            })
            .collect();
        let (left, right) = (LEFT + plot_w * 0.1, LEFT + plot_w * 0.1 + plot_w * 0.4);
        let y_of = |v: f64| TOP + plot_h - v / 10.0 * plot_h;
        assert_eq!(
            rects,
            [
                (f1(left), f1(y_of(1.0)), f1(plot_h * 0.1)),
                (f1(left), f1(y_of(3.0)), f1(plot_h * 0.2)),
                (f1(right), f1(y_of(4.0)), f1(plot_h * 0.4)),
                (f1(right), f1(y_of(8.0)), f1(plot_h * 0.4)),
            ]
        );
        assert_eq!([0, 1, 2, 3].map(|k| stack_of(k, 4, 2).0), [0, 0, 1, 1]);
        assert_eq!([0, 1].map(|k| stack_of(k, 2, 1).0), [0, 0]);
    }

    #[test]
    fn lines_break_where_a_rate_is_missing() {
        let t = Table {
            id: "capture",
            title: "C",
            columns: vec!["bucket", "rate"],
            rows: vec![("a".into(), vec![Some(50.0)]), ("b".into(), vec![None]), ("c".into(), vec![Some(100.0)])],
            kind: ChartKind::Lines,
        };
        let s = svg(&t).into_string();
        assert_eq!(s.matches("<circle").count(), 2);
        let d = s.split(r#" d=""#).nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(d.matches('M').count(), 2, "two pieces: {d}");
        assert!(!d.contains('L'));
    }

    #[test]
    fn labels_are_escaped() {
        let t = table(ChartKind::Grouped, vec![("<b>".into(), vec![Some(1.0), Some(1.0)])]);
        assert!(!svg(&t).into_string().contains("<b>"));
    }
}
