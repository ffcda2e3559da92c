//! The web pages, rendered with maud: every value put into a page is
//! escaped unless a template marks it as markup. Pure: rows, filters and
//! the time in, a page out.
//!
//! - `rows`: the stored rows, filtered and paged (`/`);
//! - `access_points`: each access point's last report and silence;
//! - `dashboard`: the charts (server-side SVG) and their CSV tables.

pub mod access_points;
pub mod dashboard;
pub mod rows;

use maud::{html, Markup, DOCTYPE};

pub use access_points::access_points_page;
pub use rows::{rows_page, RowsView, FILTER_FIELDS};

pub const STYLE_CSS: &str = include_str!("../../web/style.css");

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

/// The page around `content`: head, the navigation with `tab` marked.
pub fn layout(title: &str, tab: Tab, content: Markup) -> String {
    let current = |t: Tab| (t == tab).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · presenced-server" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header {
                    span class="brand" { "presenced-server" }
                    nav {
                        a href="/" aria-current=[current(Tab::Rows)] { "Rows" }
                        a href="/access-points" aria-current=[current(Tab::AccessPoints)] { "Access points" }
                        a href="/dashboard" aria-current=[current(Tab::Dashboard)] { "Dashboard" }
                    }
                }
                main { (content) }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_a_form() {
        assert_eq!(encode_query(&[("mac", "00:9A"), ("since", "2026-12-01 18:00")]), "mac=00%3A9A&since=2026-12-01+18%3A00");
    }

    #[test]
    fn the_title_is_escaped_and_the_tab_marked() {
        let page = layout("<b>&'\"", Tab::AccessPoints, html! { p { "x" } });
        assert!(page.contains("<title>&lt;b&gt;&amp;'&quot; · presenced-server</title>"), "{page}");
        assert!(page.contains(r#"<a href="/access-points" aria-current="page">"#), "{page}");
        assert_eq!(page.matches("aria-current").count(), 1);
    }
}
