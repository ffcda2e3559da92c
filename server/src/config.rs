//! Command line and config file in, a checked `Config` out. Every error names
//! the option (or config file key) at fault; main prints it on one line and
//! exits 2.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub const KEY_ENV: &str = "PRESENCED_KEY";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE: &str = "presenced.sqlite";
pub const DEFAULT_PATH: &str = "/presence";
/// NCompass-Cloudtrax's documented path; its users' access points point there.
pub const NCOMPASS_PATH: &str = "/receive";

pub const USAGE: &str = "\
Usage: presenced-server [--listen ADDR:PORT] [--database PATH|postgres://...]
                        [--key-file FILE] [--config FILE] [options]

Receives signed Presence Reporting API reports from access points, stores
every row, and serves a web page to browse and export them.

      --listen ADDR:PORT    where to listen [default: 127.0.0.1:8080]
      --database DB         an SQLite file (created if missing) or a
                            postgres://user@host/db URL [default: presenced.sqlite]
      --key-file FILE       the default HMAC key, for every network the config
                            file does not name (or set PRESENCED_KEY)
      --config FILE         TOML: networks (id, name, key_file, and the
                            analytics' session_timeout_minutes, min_dwell_minutes,
                            visitor_min_signal, timezone_offset, api_raw_macs,
                            webhook (url, key_file, retries, backoff_ms,
                            timeout_ms)),
                            api_key (public, secret_file, networks), path,
                            retention_days
      --path PATH           where reports are POSTed [default: /presence];
                            /receive is accepted too
      --retention-days N    delete visits and their figures older than N days
                            [default: keep all]
      --raw-retention-days N
                            delete raw rows (and report records) older than N
                            days [default: as --retention-days]
      --rebuild-analytics   recompute the stored visits from the raw rows (after
                            a change of rules or a repair), then exit
      --header-timeout SECS close a connection whose request headers (or, idle,
                            whose next request) do not arrive in time [default: 10]
      --max-connections N   connections served at once [default: 1024]
  -h, --help                this text
  -V, --version             the version
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub option: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(option: &str, message: impl Into<String>) -> ConfigError {
        ConfigError { option: option.to_string(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.message)
    }
}

/// Where the store lives: defined by the store, which config sits above.
pub use crate::store::Database;

#[derive(Clone, PartialEq, Eq)]
pub struct Network {
    pub id: u64,
    pub name: String,
    pub key: Vec<u8>,
    pub analytics: crate::analytics::visits::NetworkRules,
    pub webhooks: Vec<Webhook>,
}

/// Where a network's events are POSTed, and how hard to try.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    /// Signs each body (the `Signature` header); the network's report key
    /// unless the webhook names its own.
    pub key: Vec<u8>,
    /// Attempts after the first, before the event is dropped.
    pub retries: u32,
    /// Wait before the first retry; doubled before each next one.
    pub backoff: Duration,
    /// One attempt's bound: connecting, sending and the answer.
    pub timeout: Duration,
}

/// Bounds on what one client can make the server hold or wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A 10,000-client report (the agent's --max-clients default) is about
    /// 1.8 MB; twice that and some.
    pub body_bytes: usize,
    /// From accepting a connection (or the end of the last response) to the
    /// end of the next request's headers: idle connections are closed then.
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// Bodies being read at once: with `body_bytes`, the most memory that
    /// unauthenticated senders can make the server hold.
    pub bodies_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes: 4 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            bodies_in_flight: 32,
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: Database,
    pub default_key: Option<Vec<u8>>,
    pub networks: BTreeMap<u64, Network>,
    pub ingest_path: String,
    /// Visits and per-client days older than this go.
    pub retention_days: Option<u32>,
    /// Raw rows older than this go: by default as `retention_days`.
    pub raw_retention_days: Option<u32>,
    /// Recompute the stored analytics from the raw rows, then exit.
    pub rebuild_analytics: bool,
    pub limits: Limits,
    /// The query API's keys, by public key.
    pub api_keys: BTreeMap<String, ApiKey>,
}

/// A query API key: the public part goes in `X-Key`, the secret signs.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub public: String,
    pub secret: Vec<u8>,
    /// The networks it may read; None: all.
    pub networks: Option<Vec<u64>>,
}

impl ApiKey {
    pub fn may_read(&self, network_id: u64) -> bool {
        self.networks.as_ref().is_none_or(|n| n.contains(&network_id))
    }
}

/// Never prints a key.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field("default_key", &self.default_key.as_ref().map(|_| "<set>"))
            .field("networks", &self.networks.values().map(|n| (n.id, &n.name)).collect::<Vec<_>>())
            .field("ingest_path", &self.ingest_path)
            .field("retention_days", &self.retention_days)
            .field("raw_retention_days", &self.raw_retention_days)
            .field("api_keys", &self.api_keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Config {
    /// How visits of `network_id` are judged: its config file entry, else
    /// the defaults.
    pub fn rules_for(&self, network_id: u64) -> crate::analytics::visits::NetworkRules {
        self.networks.get(&network_id).map(|n| n.analytics.clone()).unwrap_or_default()
    }

    /// The key a report of `network_id` must be signed with.
    pub fn key_for(&self, network_id: u64) -> Option<&[u8]> {
        match self.networks.get(&network_id) {
            Some(n) => Some(&n.key),
            None => self.default_key.as_deref(),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    pub listen: Option<String>,
    pub database: Option<String>,
    pub key_file: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub path: Option<String>,
    pub retention_days: Option<String>,
    pub raw_retention_days: Option<String>,
    pub rebuild_analytics: bool,
    pub header_timeout: Option<String>,
    pub max_connections: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Args),
    Help,
    Version,
}

/// The config file. Relative key files are relative to the config file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    path: Option<String>,
    retention_days: Option<u32>,
    #[serde(default)]
    network: Vec<FileNetwork>,
    #[serde(default)]
    api_key: Vec<FileApiKey>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileApiKey {
    public: String,
    secret_file: PathBuf,
    networks: Option<Vec<u64>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileNetwork {
    id: u64,
    name: Option<String>,
    key_file: PathBuf,
    session_timeout_minutes: Option<i64>,
    min_dwell_minutes: Option<i64>,
    visitor_min_signal: Option<i32>,
    timezone_offset: Option<String>,
    api_raw_macs: Option<bool>,
    #[serde(default)]
    webhook: Vec<FileWebhook>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileWebhook {
    url: String,
    key_file: Option<PathBuf>,
    retries: Option<u32>,
    backoff_ms: Option<u64>,
    timeout_ms: Option<u64>,
}

impl Args {
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, ConfigError> {
        use lexopt::prelude::*;
        let mut a = Args::default();
        let mut parser = lexopt::Parser::from_args(args);
        let text = |p: &mut lexopt::Parser, name: &str| -> Result<String, ConfigError> {
            let v = p.value().map_err(|e| ConfigError::new(name, e.to_string()))?;
            v.into_string().map_err(|_| ConfigError::new(name, "is not valid UTF-8"))
        };
        while let Some(arg) = parser.next().map_err(|e| ConfigError::new("command line", e.to_string()))? {
            match arg {
                Long("listen") => a.listen = Some(text(&mut parser, "--listen")?),
                Long("database") => a.database = Some(text(&mut parser, "--database")?),
                Long("key-file") => {
                    a.key_file = Some(
                        parser.value().map_err(|e| ConfigError::new("--key-file", e.to_string()))?.into(),
                    )
                }
                Long("config") => {
                    a.config =
                        Some(parser.value().map_err(|e| ConfigError::new("--config", e.to_string()))?.into())
                }
                Long("path") => a.path = Some(text(&mut parser, "--path")?),
                Long("retention-days") => a.retention_days = Some(text(&mut parser, "--retention-days")?),
                Long("raw-retention-days") => a.raw_retention_days = Some(text(&mut parser, "--raw-retention-days")?),
                Long("rebuild-analytics") => a.rebuild_analytics = true,
                Long("header-timeout") => a.header_timeout = Some(text(&mut parser, "--header-timeout")?),
                Long("max-connections") => a.max_connections = Some(text(&mut parser, "--max-connections")?),
                Long("key") => {
                    return Err(ConfigError::new(
                        "--key",
                        format!("the key is never given on the command line (other users can read it there): use --key-file FILE or {KEY_ENV}"),
                    ))
                }
                Short('h') | Long("help") => return Ok(Command::Help),
                Short('V') | Long("version") => return Ok(Command::Version),
                other => return Err(ConfigError::new("command line", other.unexpected().to_string())),
            }
        }
        Ok(Command::Run(a))
    }

    /// Checks every value and reads the key files; `env_key` is the value of
    /// PRESENCED_KEY. Does not touch the database: `store::open` does.
    pub fn validate(self, env_key: Option<OsString>) -> Result<Config, ConfigError> {
        let listen_text = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError::new("--listen", format!("{listen_text:?} is not ADDR:PORT (like 0.0.0.0:8080 or [::]:8080)"))
        })?;
        let database = parse_database(self.database.as_deref().unwrap_or(DEFAULT_DATABASE))?;

        let file = match &self.config {
            Some(path) => read_config_file(path)?,
            None => FileConfig::default(),
        };
        let config_dir = self.config.as_deref().and_then(Path::parent).unwrap_or(Path::new("."));
        let mut networks = BTreeMap::new();
        for n in file.network {
            let option = format!("--config {} network {}", self.config.as_deref().unwrap_or(Path::new("")).display(), n.id);
            let path = config_dir.join(&n.key_file);
            let key = read_key_file(&path, &option)?;
            let name = n.name.unwrap_or_else(|| n.id.to_string());
            let analytics = crate::analytics::visits::NetworkRules::from_options(
                n.session_timeout_minutes,
                n.min_dwell_minutes,
                n.visitor_min_signal,
                n.timezone_offset.as_deref(),
                n.api_raw_macs,
            )
            .map_err(|(key, message)| ConfigError::new(&format!("{option} {key}"), message))?;
            let mut webhooks = Vec::new();
            for w in n.webhook {
                let option = format!("{option} webhook {}", w.url);
                webhooks.push(check_webhook(w, &key, config_dir, &option)?);
            }
            if networks.insert(n.id, Network { id: n.id, name, key, analytics, webhooks }).is_some() {
                return Err(ConfigError::new(&option, "is listed twice"));
            }
        }

        let mut api_keys = BTreeMap::new();
        for k in file.api_key {
            let option = format!("--config {} api_key {:?}", self.config.as_deref().unwrap_or(Path::new("")).display(), k.public);
            if k.public.is_empty() || !k.public.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(&option, "public must be printable ASCII without spaces (it travels in the X-Key header)"));
            }
            let secret = read_key_file(&config_dir.join(&k.secret_file), &option)?;
            let key = ApiKey { public: k.public.clone(), secret, networks: k.networks };
            if api_keys.insert(k.public, key).is_some() {
                return Err(ConfigError::new(&option, "is listed twice"));
            }
        }

        let default_key = match (self.key_file, env_key) {
            (Some(path), _) => Some(read_key_file(&path, "--key-file")?),
            (None, Some(v)) if !v.is_empty() => Some(os_bytes(v)),
            (None, _) => None,
        };
        if default_key.is_none() && networks.is_empty() {
            return Err(ConfigError::new(
                "--key-file",
                format!("no key to check signatures with: give --key-file FILE, set {KEY_ENV}, or list networks in --config"),
            ));
        }

        let ingest_path = match self.path.or(file.path) {
            Some(p) if !p.starts_with('/') || p.contains(['?', '#', ' ']) => {
                return Err(ConfigError::new("--path", format!("{p:?} is not a URL path like /presence")))
            }
            Some(p) => p,
            None => DEFAULT_PATH.to_string(),
        };
        let days = |option: &str, text: Option<String>| -> Result<Option<u32>, ConfigError> {
            match text {
                Some(text) => match text.parse::<u32>() {
                    Ok(0) | Err(_) => Err(ConfigError::new(option, format!("{text:?} is not a whole number of days, 1 or more"))),
                    Ok(n) => Ok(Some(n)),
                },
                None => Ok(None),
            }
        };
        let retention_days = days("--retention-days", self.retention_days)?.or(file.retention_days);
        let raw_retention_days = days("--raw-retention-days", self.raw_retention_days)?.or(retention_days);
        if retention_days == Some(0) {
            return Err(ConfigError::new("retention_days", "must be 1 or more (leave it out to keep every row)"));
        }
        let mut limits = Limits::default();
        if let Some(text) = self.header_timeout {
            let secs = text.parse::<u64>().ok().filter(|s| (1..=3600).contains(s)).ok_or_else(|| {
                ConfigError::new("--header-timeout", format!("{text:?} is not a number of seconds from 1 to 3600"))
            })?;
            limits.header_timeout = Duration::from_secs(secs);
        }
        if let Some(text) = self.max_connections {
            limits.max_connections = text.parse::<usize>().ok().filter(|n| (1..=1_000_000).contains(n)).ok_or_else(|| {
                ConfigError::new("--max-connections", format!("{text:?} is not a number from 1 to 1000000"))
            })?;
        }
        let rebuild_analytics = self.rebuild_analytics;
        Ok(Config { listen, database, default_key, networks, ingest_path, retention_days, raw_retention_days, rebuild_analytics, limits, api_keys })
    }
}

pub fn parse_database(text: &str) -> Result<Database, ConfigError> {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        // sqlx's own parser, so that what passes here also connects.
        text.parse::<sqlx::postgres::PgConnectOptions>()
            .map_err(|e| ConfigError::new("--database", format!("{text:?} is not a PostgreSQL URL: {e}")))?;
        return Ok(Database::Postgres(text.to_string()));
    }
    let path = text.strip_prefix("sqlite://").unwrap_or(text);
    if path.is_empty() {
        return Err(ConfigError::new("--database", "is empty: give a file path or a postgres:// URL"));
    }
    if let Some((scheme, _)) = path.split_once("://") {
        return Err(ConfigError::new(
            "--database",
            format!("{scheme}:// is not supported: give an SQLite file path or a postgres:// URL"),
        ));
    }
    Ok(Database::Sqlite(PathBuf::from(path)))
}

fn check_webhook(w: FileWebhook, network_key: &[u8], config_dir: &Path, option: &str) -> Result<Webhook, ConfigError> {
    let uri: axum::http::Uri = w.url.parse().map_err(|_| ConfigError::new(option, "is not a URL like http://host:port/path"))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(ConfigError::new(
            option,
            "must be an http:// URL with a host (https is not supported: put a TLS-terminating proxy in front of the receiver)",
        ));
    }
    let key = match &w.key_file {
        Some(path) => read_key_file(&config_dir.join(path), option)?,
        None => network_key.to_vec(),
    };
    let retries = w.retries.unwrap_or(5);
    if retries > 20 {
        return Err(ConfigError::new(&format!("{option} retries"), format!("{retries} is more than 20")));
    }
    let backoff_ms = w.backoff_ms.unwrap_or(1000);
    if !(10..=600_000).contains(&backoff_ms) {
        return Err(ConfigError::new(&format!("{option} backoff_ms"), format!("{backoff_ms} is not from 10 to 600000")));
    }
    let timeout_ms = w.timeout_ms.unwrap_or(10_000);
    if !(100..=120_000).contains(&timeout_ms) {
        return Err(ConfigError::new(&format!("{option} timeout_ms"), format!("{timeout_ms} is not from 100 to 120000")));
    }
    Ok(Webhook {
        url: w.url,
        key,
        retries,
        backoff: Duration::from_millis(backoff_ms),
        timeout: Duration::from_millis(timeout_ms),
    })
}

fn read_config_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let option = format!("--config {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&option, format!("cannot read: {e}")))?;
    toml::from_str(&text).map_err(|e| ConfigError::new(&option, e.message().to_string()))
}

/// By the rule every program with a key file follows (presenced_report): a
/// regular file of at most 4 KiB, opened without blocking, so a FIFO is
/// refused instead of hanging the start.
fn read_key_file(path: &Path, option: &str) -> Result<Vec<u8>, ConfigError> {
    let key = presenced_report::read_key_file(path, option).map_err(|problem| ConfigError::new(option, problem))?;
    if let Some(warning) = key.warning {
        tracing::warn!("{warning}");
    }
    Ok(key.bytes)
}

fn os_bytes(v: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    v.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<Config, ConfigError> {
        match Args::parse(args.iter().map(OsString::from))? {
            Command::Run(a) => a.validate(env.map(OsString::from)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_with_the_key_from_the_environment() {
        let c = run(&[], Some("k")).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database, Database::Sqlite(DEFAULT_DATABASE.into()));
        assert_eq!(c.key_for(12345), Some(&b"k"[..]));
        assert_eq!(c.ingest_path, "/presence");
        assert_eq!((c.retention_days, c.raw_retention_days, c.rebuild_analytics), (None, None, false));
    }

    #[test]
    fn errors_name_the_option() {
        let option = |args: &[&str], env| run(args, env).unwrap_err().option;
        assert_eq!(option(&[], None), "--key-file");
        assert_eq!(option(&["--listen", "localhost"], Some("k")), "--listen");
        assert_eq!(option(&["--listen", "1.2.3.4:99999"], Some("k")), "--listen");
        assert_eq!(option(&["--database", "mysql://h/db"], Some("k")), "--database");
        assert_eq!(option(&["--database", "postgres://h:notaport/db"], Some("k")), "--database");
        assert_eq!(option(&["--key-file", "/nonexistent/key"], None), "--key-file");
        assert_eq!(option(&["--retention-days", "0"], Some("k")), "--retention-days");
        assert_eq!(option(&["--retention-days", "x"], Some("k")), "--retention-days");
        assert_eq!(option(&["--raw-retention-days", "0"], Some("k")), "--raw-retention-days");
        assert_eq!(option(&["--path", "presence"], Some("k")), "--path");
        assert_eq!(option(&["--header-timeout", "0"], Some("k")), "--header-timeout");
        assert_eq!(option(&["--max-connections", "many"], Some("k")), "--max-connections");
        assert_eq!(option(&["--key", "secret"], None), "--key");
        assert!(option(&["--config", "/nonexistent.toml"], Some("k")).starts_with("--config"));
    }

    #[test]
    fn raw_rows_may_go_before_visits() {
        let c = run(&["--retention-days", "365", "--raw-retention-days", "30", "--rebuild-analytics"], Some("k")).unwrap();
        assert_eq!((c.retention_days, c.raw_retention_days, c.rebuild_analytics), (Some(365), Some(30), true));
    }

    #[test]
    fn postgres_urls_are_kept() {
        let c = run(&["--database", "postgres://u@localhost/presence"], Some("k")).unwrap();
        assert_eq!(c.database, Database::Postgres("postgres://u@localhost/presence".into()));
    }

    #[test]
    fn networks_from_the_config_file_with_relative_key_files() {
        let dir = std::env::temp_dir().join(format!("presenced-server-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.key"), "alpha\n").unwrap();
        std::fs::write(
            dir.join("server.toml"),
            "retention_days = 7\n[[network]]\nid = 5\nname = \"Venue A\"\nkey_file = \"a.key\"\n",
        )
        .unwrap();
        let cfg = dir.join("server.toml");
        let c = run(&["--config", cfg.to_str().unwrap()], None).unwrap();
        assert_eq!(c.key_for(5), Some(&b"alpha"[..]));
        assert_eq!(c.key_for(6), None, "no default key: other networks have none");
        assert_eq!(c.networks[&5].name, "Venue A");
        assert_eq!(c.retention_days, Some(7));
        assert_eq!(c.raw_retention_days, Some(7), "raw rows are kept as long as visits unless told");
        let with_default = run(&["--config", cfg.to_str().unwrap()], Some("dflt")).unwrap();
        assert_eq!(with_default.key_for(6), Some(&b"dflt"[..]));

        std::fs::write(dir.join("bad.toml"), "[[network]]\nid = 5\nkey = \"inline\"\n").unwrap();
        let e = run(&["--config", dir.join("bad.toml").to_str().unwrap()], None).unwrap_err();
        assert!(e.option.starts_with("--config") && e.message.contains("key"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn analytics_rules_per_network() {
        let dir = std::env::temp_dir().join(format!("presenced-server-config-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.key"), "alpha\n").unwrap();
        let net = "[[network]]\nid = 5\nkey_file = \"a.key\"\n";
        std::fs::write(dir.join("ok.toml"), format!("{net}session_timeout_minutes = 10\ntimezone_offset = \"-04:00\"\n")).unwrap();
        let c = run(&["--config", dir.join("ok.toml").to_str().unwrap()], Some("d")).unwrap();
        assert_eq!((c.rules_for(5).visits.session_timeout, c.rules_for(5).utc_offset), (600, -14_400));
        assert_eq!(c.rules_for(6), crate::analytics::visits::NetworkRules::default(), "a network not listed gets the defaults");
        std::fs::write(dir.join("bad.toml"), format!("{net}timezone_offset = \"CET\"\n")).unwrap();
        let e = run(&["--config", dir.join("bad.toml").to_str().unwrap()], None).unwrap_err();
        assert!(e.option.ends_with("network 5 timezone_offset") && e.message.contains("CET"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn webhooks_and_api_keys_are_checked() {
        let dir = std::env::temp_dir().join(format!("presenced-server-config-hooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.key"), "alpha\n").unwrap();
        std::fs::write(dir.join("s.secret"), "sec\n").unwrap();
        let net = "[[network]]\nid = 5\nkey_file = \"a.key\"\n";
        let write_and_run = |name: &str, text: String| {
            std::fs::write(dir.join(name), text).unwrap();
            run(&["--config", dir.join(name).to_str().unwrap()], None)
        };
        let ok = write_and_run("ok.toml", format!("{net}[[network.webhook]]\nurl = \"http://127.0.0.1:9/h\"\nretries = 2\n[[api_key]]\npublic = \"pk\"\nsecret_file = \"s.secret\"\nnetworks = [5]\n")).unwrap();
        let hook = &ok.networks[&5].webhooks[0];
        assert_eq!((hook.key.as_slice(), hook.retries, hook.backoff), (&b"alpha"[..], 2, Duration::from_secs(1)), "the network's key by default");
        assert_eq!(ok.api_keys["pk"].secret, b"sec");
        assert!(ok.api_keys["pk"].may_read(5) && !ok.api_keys["pk"].may_read(6));
        let option = |name: &str, text: String| write_and_run(name, text).unwrap_err().option;
        assert!(option("https.toml", format!("{net}[[network.webhook]]\nurl = \"https://h/x\"\n")).ends_with("webhook https://h/x"));
        assert!(option("retries.toml", format!("{net}[[network.webhook]]\nurl = \"http://h/x\"\nretries = 99\n")).ends_with("retries"));
        assert!(option("secret.toml", format!("{net}[[api_key]]\npublic = \"pk\"\nsecret_file = \"missing\"\n")).ends_with("api_key \"pk\""));
        assert!(option("public.toml", format!("{net}[[api_key]]\npublic = \"a b\"\nsecret_file = \"s.secret\"\n")).contains("api_key"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
