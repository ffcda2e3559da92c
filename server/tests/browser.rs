//! The web page in a real browser: Debian's chromium driven through
//! chromedriver (WebDriver, the fantoccini crate). Load, filter (the client
//! MAC typed in another case), page, export, a bad filter, the access points
//! page with a silent one; the dashboard (totals, charts, CSV of each chart,
//! an access point, hourly, a bad value) over multi-day rows whose figures
//! are worked out by hand in tests/analytics.rs. Screenshots go to
//! build/screenshots/.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{get, post_signed, report_body, row, synthetic_days, RowSpec, Server, TempDir, AP1, AP2};

const KEY: &[u8] = b"browser-key";

struct ChromeDriver(Child);

impl ChromeDriver {
    fn start(port: u16) -> ChromeDriver {
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run /usr/bin/chromedriver: {e} (make deps installs chromium-driver)"));
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "chromedriver did not listen on {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        ChromeDriver(child)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../build/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Clicks what navigates to another page and waits, bounded, until the
/// browser is on it and has loaded it: WebDriver's click returns once the
/// click is dispatched, and on a loaded machine reading the page right
/// after it can find the old one half torn down.
async fn click_to_navigate(client: &Client, locator: Locator<'_>) {
    let before = client.current_url().await.unwrap();
    client.find(locator).await.unwrap().click().await.unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = client.current_url().await.unwrap();
        let ready = client.execute("return document.readyState", vec![]).await.ok();
        if now != before && ready.as_ref().and_then(|v| v.as_str()) == Some("complete") {
            return;
        }
        assert!(std::time::Instant::now() < until, "the click on a link or button did not leave {before}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

async fn session(client: &Client, server: &Server, _profile: &TempDir) {
    let base = server.url("");
    client.set_window_size(1500, 1000).await.unwrap();

    // Load: 80 rows, newest first, pages of 50.
    client.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(client.find(Locator::Id("summary")).await.unwrap().text().await.unwrap(), "80 rows match; showing 1–50, newest first");
    assert_eq!(texts(client, "#rows tbody tr").await.len(), 50);
    shot(client, "01-rows").await;

    // Filter: the client MAC's beginning typed in upper case; rows were
    // sent in lower case. 55 of them start with 0a:bb.
    client.find(Locator::Id("f-mac")).await.unwrap().send_keys("0A:BB").await.unwrap();
    click_to_navigate(client, Locator::Id("apply")).await;
    let summary = client.find(Locator::Id("summary")).await.unwrap().text().await.unwrap();
    assert_eq!(summary, "55 rows match; showing 1–50, newest first");
    let url = client.current_url().await.unwrap();
    assert!(url.query().unwrap_or("").contains("mac=0A%3ABB"), "{url}");
    let first_page = texts(client, "#rows tbody tr td:nth-child(4)").await;
    assert_eq!(first_page.len(), 50);
    assert!(first_page.iter().all(|m| m.starts_with("0a:bb")), "{first_page:?}");
    shot(client, "02-filtered").await;

    // Page: the older page holds the other 5, and a way back.
    click_to_navigate(client, Locator::Id("older")).await;
    let second_page = texts(client, "#rows tbody tr td:nth-child(4)").await;
    assert_eq!(second_page.len(), 5);
    assert_eq!(client.find(Locator::Id("page-number")).await.unwrap().text().await.unwrap(), "page 2");
    assert!(client.find(Locator::Id("newer")).await.is_ok());
    assert!(client.find(Locator::Id("older")).await.is_err(), "no page after the last");
    shot(client, "03-page-2").await;

    // Export: the page's link gives exactly the filtered rows, all pages.
    let href = client.find(Locator::Id("export")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(href.starts_with("/export.csv?") || href.contains("/export.csv?"), "{href}");
    let path = href.strip_prefix(&base).unwrap_or(&href).to_string();
    let csv = get(server.addr, &path);
    assert_eq!(csv.status, 200);
    let mut exported: Vec<String> =
        csv.text().lines().skip(1).map(|l| l.split(',').nth(2).unwrap().to_string()).collect();
    let mut shown: Vec<String> = first_page.iter().chain(second_page.iter()).cloned().collect();
    exported.sort();
    shown.sort();
    assert_eq!(exported, shown);

    // Associated filter through the select, combined with the MAC.
    client.goto(&format!("{base}/?mac=0a:bb")).await.unwrap();
    client.find(Locator::Css("#f-associated option[value='true']")).await.unwrap().click().await.unwrap();
    click_to_navigate(client, Locator::Id("apply")).await;
    let assoc = texts(client, "#rows tbody tr td:nth-child(12)").await;
    // Rows 0..55 with i % 5 == 0 are associated: 11 of them.
    assert_eq!(assoc.len(), 11);
    assert!(assoc.iter().all(|a| a == "yes"));

    // A bad filter value: a clear message on the page, not an error page.
    client.goto(&format!("{base}/")).await.unwrap();
    client.find(Locator::Id("f-since")).await.unwrap().send_keys("yesterday").await.unwrap();
    click_to_navigate(client, Locator::Id("apply")).await;
    let error = client.find(Locator::Id("filter-error")).await.unwrap().text().await.unwrap();
    assert!(error.starts_with("since: \"yesterday\" is not a time"), "{error}");
    assert_eq!(client.find(Locator::Id("f-since")).await.unwrap().prop("value").await.unwrap().as_deref(), Some("yesterday"));
    shot(client, "04-bad-filter").await;

    // Access points: the one that stopped is marked silent.
    client.goto(&format!("{base}/access-points")).await.unwrap();
    let silent = client
        .find(Locator::Css("tr[data-node='02:00:00:00:00:5A'] td.status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(silent.starts_with("SILENT"), "{silent}");
    let reporting =
        client.find(Locator::Css("tr[data-node='02:00:00:00:00:0B'] td.status")).await.unwrap().text().await.unwrap();
    assert_eq!(reporting, "reporting");
    shot(client, "05-access-points").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_filter_page_export() {
    let dir = TempDir::new("browser");
    std::fs::write(dir.path().join("key"), "browser-key").unwrap();
    let db = dir.path().join("rows.sqlite");
    let server = Server::start(
        &["--database", db.to_str().unwrap(), "--key-file", dir.path().join("key").to_str().unwrap()],
        None,
    );
    // 80 rows: 55 clients 0a:bb:..., 25 others; every fifth associated.
    let rows: Vec<_> = (0..80u32)
        .map(|i| {
            let mac = if i < 55 { format!("0a:bb:00:00:00:{i:02x}") } else { format!("0c:dd:00:00:00:{i:02x}") };
            row(i, &mac, i % 5 == 0)
        })
        .collect();
    for (n, chunk) in rows.chunks(20).enumerate() {
        let body = report_body(42, "02:00:00:00:00:0A", chunk);
        let r = post_signed(server.addr, "/presence", KEY, body.as_bytes());
        assert_eq!(r.status, 200, "report {n}: {}", r.text());
    }
    // An access point that reported every second, three times, then
    // stopped: silent after more than three of its intervals.
    let empty = report_body(42, "02:00:00:00:00:5A", &[]);
    for _ in 0..3 {
        assert_eq!(post_signed(server.addr, "/presence", KEY, empty.as_bytes()).status, 200);
        std::thread::sleep(Duration::from_millis(1100));
    }
    std::thread::sleep(Duration::from_secs(3));
    // One report tells no interval yet: never marked silent.
    let body = report_body(42, "02:00:00:00:00:0B", &[]);
    assert_eq!(post_signed(server.addr, "/presence", KEY, body.as_bytes()).status, 200);

    let (_driver, client, profile) = open_browser().await;
    // The session ends (and chromium with it) whatever the outcome.
    let result = futures_catch(std::panic::AssertUnwindSafe(session(&client, &server, &profile))).await;
    let _ = client.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn dashboard_session(client: &Client, server: &Server) {
    let base = server.url("");
    client.set_window_size(1400, 1300).await.unwrap();
    let cell = |id: &'static str, column: usize| async move {
        client.find(Locator::Css(&format!("#t-{id} td:nth-child({column})"))).await.unwrap().text().await.unwrap()
    };
    // Monday to Wednesday by day (network 42, UTC).
    client.goto(&format!("{base}/dashboard?network_id=42&since=2026-11-30T00:00&until=2026-12-03T00:00&bucket=day")).await.unwrap();
    for (id, universal, randomized) in [
        ("unique-clients", "7", "1"),
        ("visitors", "7", "1"),
        ("passersby", "2", "0"),
        ("capture-rate", "77.8 %", "100.0 %"),
        ("connected-visits", "1", "0"),
        ("new-visitors", "6", "1"),
        ("repeat-visitors", "1", "0"),
        ("peak-occupancy", "3", "1"),
    ] {
        assert_eq!((cell(id, 2).await, cell(id, 3).await), (universal.to_string(), randomized.to_string()), "{id}");
    }
    // The estimated devices, counted apart: two, one visitor, one passerby.
    assert_eq!((cell("unique-clients", 4).await, cell("visitors", 4).await, cell("passersby", 4).await), ("2".into(), "1".into(), "1".into()));
    for chart in ["occupancy", "visitors", "capture", "dwell", "new_repeat", "randomized"] {
        assert!(client.find(Locator::Id(&format!("chart-{chart}"))).await.is_ok(), "chart {chart}");
    }
    // Monday: visitors and passersby; Tuesday and Wednesday: visitors only;
    // beside Tuesday's, the estimated devices' visitor and passerby.
    assert_eq!(client.find_all(Locator::Css("#chart-visitors rect")).await.unwrap().len(), 6);
    assert_eq!(client.find_all(Locator::Css("#chart-visitors rect.est0")).await.unwrap().len(), 1);
    assert_eq!(client.find_all(Locator::Css("#chart-visitors rect.est1")).await.unwrap().len(), 1);
    let tip = client.find(Locator::Css("#chart-visitors rect.est0 title")).await.unwrap().html(true).await.unwrap();
    assert_eq!(tip, "2026-12-01: 1 estimated-device visitors");
    // Each series is named in its chart's legend, and drawn.
    let legend = client.find(Locator::Css("#box-occupancy .legend")).await.unwrap().text().await.unwrap();
    assert_eq!(legend, "visitors present estimated devices present");
    assert_eq!(client.find_all(Locator::Css("#chart-occupancy path.est0")).await.unwrap().len(), 1);
    assert_eq!(client.find_all(Locator::Css("#chart-occupancy circle.est0")).await.unwrap().len(), 3);
    assert_eq!(client.find_all(Locator::Css("#chart-capture circle.est0")).await.unwrap().len(), 1, "a rate only where there are visits");
    assert_eq!(client.find_all(Locator::Css("#chart-dwell rect.est0")).await.unwrap().len(), 4);
    // The page says what an estimated device is and how far off it is.
    let note = client.find(Locator::Id("estimated-devices-note")).await.unwrap().text().await.unwrap();
    assert!(note.contains("0.4 to 2.6 %") && note.contains("all 247 scenes"), "{note}");
    shot(client, "06-dashboard-days").await;

    // Each chart's CSV link gives the chart's figures.
    let csv_of = |chart: &'static str| async move {
        let href = client.find(Locator::Id(&format!("csv-{chart}"))).await.unwrap().attr("href").await.unwrap().unwrap();
        let r = get(server.addr, href.strip_prefix(&server.url("")).unwrap_or(&href));
        assert_eq!(r.status, 200, "{href}");
        r.text()
    };
    assert_eq!(
        csv_of("visitors").await,
        "bucket,visitors,passersby,estimated-device visitors,estimated-device passersby\n2026-11-30,3,2,0,0\n2026-12-01,2,0,1,1\n2026-12-02,3,0,0,0\n"
    );
    assert_eq!(csv_of("dwell").await, "dwell,visitors,estimated-device visitors\n5–20 min,3,0\n20–60 min,2,1\n1–6 h,1,0\n6 h and more,1,0\n");
    // The estimated devices' capture rate: 1 visitor of 2 on Tuesday; none
    // (an empty cell) without visits.
    assert_eq!(
        csv_of("capture").await,
        "bucket,capture rate %,estimated devices' capture rate %\n2026-11-30,60,\n2026-12-01,100,50\n2026-12-02,100,\n"
    );
    assert_eq!(
        csv_of("new_repeat").await,
        "bucket,new,repeat,estimated-device new,estimated-device repeat\n2026-11-30,3,0,0,0\n2026-12-01,2,0,1,0\n2026-12-02,2,1,0,0\n"
    );
    assert_eq!(csv_of("occupancy").await, "bucket,visitors present,estimated devices present\n2026-11-30,1,0\n2026-12-01,1,1\n2026-12-02,3,0\n");
    assert_eq!(csv_of("randomized").await, "bucket,visitors,passersby\n2026-11-30,1,0\n2026-12-01,0,0\n2026-12-02,0,0\n");

    // One access point through the form: at AP2 only B's Tuesday part.
    client.find(Locator::Css(&format!("#d-node option[value='{AP2}']"))).await.unwrap().click().await.unwrap();
    click_to_navigate(client, Locator::Id("d-apply")).await;
    let scope = client.find(Locator::Id("dashboard-scope")).await.unwrap().text().await.unwrap();
    assert!(scope.contains(&format!("access point {AP2}")), "{scope}");
    assert_eq!((cell("visitors", 2).await, cell("connected-visits", 2).await, cell("passersby", 2).await), ("1".into(), "1".into(), "0".into()));
    shot(client, "07-dashboard-access-point").await;

    // The access points page links each one to its dashboard.
    client.goto(&format!("{base}/access-points")).await.unwrap();
    click_to_navigate(client, Locator::Css(&format!("tr[data-node='{AP2}'] a.dashboard-link"))).await;
    let scope = client.find(Locator::Id("dashboard-scope")).await.unwrap().text().await.unwrap();
    assert!(scope.starts_with(&format!("Network 42 · access point {AP2}")), "{scope}");

    // Tuesday by hour, the range typed in: B at 00:00, E across 11:00 and 12:00.
    client.goto(&format!("{base}/dashboard?network_id=42")).await.unwrap();
    for (id, text) in [("d-since", "2026-12-01T00:00"), ("d-until", "2026-12-02T00:00")] {
        client.find(Locator::Id(id)).await.unwrap().send_keys(text).await.unwrap();
    }
    client.find(Locator::Css("#d-bucket option[value='hour']")).await.unwrap().click().await.unwrap();
    click_to_navigate(client, Locator::Id("d-apply")).await;
    assert_eq!(client.find_all(Locator::Css("#chart-visitors rect")).await.unwrap().len(), 5);
    let hourly = csv_of("visitors").await;
    assert_eq!(hourly.lines().count(), 25, "{hourly}");
    assert!(hourly.contains("\n2026-12-01 10:00,0,0,1,1\n2026-12-01 11:00,1,0,0,0\n2026-12-01 12:00,1,0,0,0\n"), "{hourly}");
    shot(client, "08-dashboard-hours").await;

    // A bad value: the message names it.
    client.goto(&format!("{base}/dashboard?network_id=42&since=yesterday")).await.unwrap();
    let error = client.find(Locator::Id("dashboard-error")).await.unwrap().text().await.unwrap();
    assert!(error.starts_with("since: \"yesterday\" is not a time"), "{error}");
    shot(client, "09-dashboard-bad-value").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard() {
    let dir = TempDir::new("browser-dashboard");
    std::fs::write(dir.path().join("key"), "browser-key").unwrap();
    let db = dir.path().join("rows.sqlite");
    let server = Server::start(&["--database", db.to_str().unwrap(), "--key-file", dir.path().join("key").to_str().unwrap()], None);
    for (node, mac, first, last, signal, associated) in synthetic_days() {
        let spec = RowSpec { mac: mac.into(), count: 2, min: signal - 10, max: signal, avg: signal - 5, last: signal - 3, first_seen: first, last_seen: last, associated };
        let r = post_signed(server.addr, "/presence", KEY, report_body(42, node, &[spec]).as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Two estimated devices (rows an agent sent with `--randomized-macs
    // merge`) on Tuesday 2026-12-01 (`date -u -d 2026-12-01T10:00:00Z +%s`
    // is 1796119200): one from 10:00 to 10:30 at -55 dBm, a visitor of
    // 30 min (the 20-60 min bin); one from 10:10 to 10:12, a passerby.
    let tuesday_10 = 1_796_119_200;
    for (mac, first, last, signal) in [("da:a1:19:5e:00:07", tuesday_10, tuesday_10 + 1800, -55), ("da:a1:19:5e:00:08", tuesday_10 + 600, tuesday_10 + 720, -60)] {
        let spec = RowSpec { mac: mac.into(), count: 6, min: signal - 10, max: signal, avg: signal - 5, last: signal - 3, first_seen: first, last_seen: last, associated: false };
        let body = report_body(42, AP1, &[spec]).replace(r#""associated":false}"#, r#""associated":false,"estimated_device":true}"#);
        assert!(body.contains("estimated_device"));
        let r = post_signed(server.addr, "/presence", KEY, body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (_driver, client, _profile) = open_browser().await;
    let result = futures_catch(std::panic::AssertUnwindSafe(dashboard_session(&client, &server))).await;
    let _ = client.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// chromedriver on a free port and a chromium session with a fresh profile.
async fn open_browser() -> (ChromeDriver, Client, TempDir) {
    let port = free_port();
    let driver = ChromeDriver::start(port);
    let profile = TempDir::new(&format!("browser-profile-{port}"));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| panic!("chromium did not start through chromedriver: {e}"));
    (driver, client, profile)
}

/// Runs a future, catching a panic in it so that the browser session is
/// closed before the test fails.
async fn futures_catch<F: std::future::Future<Output = ()>>(
    fut: std::panic::AssertUnwindSafe<F>,
) -> Result<(), Box<dyn std::any::Any + Send>> {
    use std::pin::pin;
    use std::task::Poll;
    let mut fut = pin!(fut.0);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(p)),
        }
    })
    .await
}

/// A network name and filter values that are markup: every page shows them
/// as text, runs no script of theirs and grows no element from them.
const HOSTILE: &str = r#"<script>window.pwned=1</script><b id="injected">x</b>"#;

fn percent_encoded(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_come_out_as_text() {
    let dir = TempDir::new("browser-hostile");
    std::fs::write(dir.path().join("key"), "browser-key").unwrap();
    // A TOML literal string: HOSTILE has no single quote.
    let config = format!("[[network]]\nid = 7\nname = '{HOSTILE}'\nkey_file = \"key\"\n");
    std::fs::write(dir.path().join("net.toml"), config).unwrap();
    let db = dir.path().join("rows.sqlite");
    let config = dir.path().join("net.toml");
    let args = ["--database", db.to_str().unwrap(), "--config", config.to_str().unwrap()];
    let server = Server::start(&args, None);
    let (node, mac, first, last, signal, associated) = synthetic_days()[0];
    let spec = RowSpec { mac: mac.into(), count: 2, min: signal - 10, max: signal, avg: signal - 5, last: signal - 3, first_seen: first, last_seen: last, associated };
    let r = post_signed(server.addr, "/presence", KEY, report_body(7, node, &[spec]).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());

    let (_driver, client, _profile) = open_browser().await;
    let session = async {
        let base = server.url("");
        let hostile = percent_encoded(HOSTILE);
        // (page, where the string must show: in the text, or as a field's value)
        let pages = [
            ("/".to_string(), None),
            ("/access-points".to_string(), None),
            ("/dashboard?network_id=7".to_string(), None),
            (format!("/?mac={hostile}"), Some("f-mac")),
            (format!("/dashboard?network_id=7&since={hostile}"), Some("d-since")),
        ];
        for (path, field) in pages {
            client.goto(&format!("{base}{path}")).await.unwrap();
            let found = client
                .execute(
                    "return [typeof window.pwned, document.querySelectorAll('#injected').length, document.scripts.length, \
                     document.body.textContent.includes(arguments[0]), \
                     arguments[1] === null ? null : document.getElementById(arguments[1]).value]",
                    vec![json!(HOSTILE), json!(field)],
                )
                .await
                .unwrap();
            let shown_as = match field {
                None => json!(null),
                Some(_) => json!(HOSTILE),
            };
            let in_text = field.is_none() || path.contains("since=");
            assert_eq!(found, json!(["undefined", 0, 0, in_text, shown_as]), "{path}");
        }
        shot(&client, "10-hostile-strings").await;
    };
    let result = futures_catch(std::panic::AssertUnwindSafe(session)).await;
    let _ = client.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
