//! presenced-server: receive, store and show Presence Reporting API reports.

use std::process::ExitCode;
use std::time::Duration;

use presenced_server::config::{Args, Command, Config, Database, KEY_ENV, USAGE};
use presenced_server::store::Store;
use presenced_server::{http, unix_now, AppState};

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("presenced-server {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(e),
    };
    if let Err(e) = init_logging() {
        eprintln!("presenced-server: {e}");
        return ExitCode::from(2);
    }
    let config = match args.validate(std::env::var_os(KEY_ENV)) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

/// Log events go to stderr at the levels RUST_LOG names (tracing's
/// directives, e.g. `warn` or `info,tower_http=debug`), `info,sqlx=warn`
/// without it.
fn init_logging() -> Result<(), String> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => EnvFilter::try_new(&directives).map_err(|e| format!("RUST_LOG: {directives:?} is not a log filter like info or warn,tower_http=debug: {e}"))?,
        // PostgreSQL's notices ("relation ... already exists, skipping")
        // come through sqlx at INFO: they are the database's, not ours.
        Err(_) => EnvFilter::new("info,sqlx=warn"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| format!("cannot start logging: {e}"))
}

/// A command line or start-up refusal: one plain line for the person who
/// typed the command, not a log event.
fn usage_error(e: presenced_server::config::ConfigError) -> ExitCode {
    eprintln!("presenced-server: {e}");
    ExitCode::from(2)
}

async fn run(config: Config) -> ExitCode {
    let store = match Store::open(&config.database).await {
        Ok(s) => s,
        Err(e) => {
            let what = match &config.database {
                Database::Sqlite(p) => format!("cannot open the SQLite database {}", p.display()),
                Database::Postgres(_) => "cannot connect to PostgreSQL".to_string(),
            };
            return usage_error(presenced_server::config::ConfigError::new("--database", format!("{what}: {e}")));
        }
    };
    let rules = config.networks.values().map(|n| (n.id as i64, n.analytics.clone()));
    let stale = match store.use_rules(rules).await {
        Ok(s) => s,
        Err(e) => return usage_error(presenced_server::config::ConfigError::new("--database", format!("cannot read the stored analytics' rules: {e}"))),
    };
    if config.rebuild_analytics || !stale.is_empty() {
        let which = if config.rebuild_analytics { None } else { Some(stale.as_slice()) };
        if let Some(ids) = which {
            tracing::warn!("the stored visits of network(s) {ids:?} were built with other rules: rebuilding them from the raw rows");
        }
        match store.rebuild_analytics(which).await {
            Ok(r) => tracing::info!("rebuilt the analytics of {} network(s) from {} raw rows", r.networks, r.rows),
            Err(e) => {
                tracing::error!("cannot rebuild the analytics: {e}");
                return ExitCode::FAILURE;
            }
        }
        if config.rebuild_analytics {
            store.close().await;
            return ExitCode::SUCCESS;
        }
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            return usage_error(presenced_server::config::ConfigError::new(
                "--listen",
                format!("cannot listen on {}: {e}", config.listen),
            ))
        }
    };
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(
        "listening on http://{address} (reports: POST {} and /receive), {} database",
        config.ingest_path,
        store.kind()
    );
    // After the line above: tests and scripts read the address from the first line.
    let configured: Vec<&str> = config.api_keys.keys().map(String::as_str).collect();
    match store.forget_api_keys_except(&configured).await {
        Ok(0) => {}
        Ok(n) => tracing::info!("query API: forgot the nonces of {n} key(s) no longer in the config file"),
        Err(e) => tracing::error!("query API: cannot forget the nonces of keys no longer configured: {e}"),
    }
    if config.retention_days.is_some() || config.raw_retention_days.is_some() {
        tokio::spawn(prune_forever(store.clone(), config.retention_days, config.raw_retention_days));
    }
    // Figures that ingest left dirty are recomputed here, not by the first
    // view over them.
    tokio::spawn(store.clone().refresh_figures_forever());
    let limits = config.limits.clone();
    let app = http::router(AppState::new(config, store.clone()));
    http::serve(listener, app, &limits, shutdown_signal(), Duration::from_secs(5)).await;
    store.close().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Every ten minutes (and at start), visits older than `days` and raw rows
/// older than `raw_days` go.
async fn prune_forever(store: Store, days: Option<u32>, raw_days: Option<u32>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Some(raw_days) = raw_days {
            let cutoff = unix_now() - i64::from(raw_days) * 86_400;
            match store.prune(cutoff).await {
                Ok(p) if p.rows + p.reports > 0 => {
                    tracing::info!("retention: deleted {} rows and {} report records older than {raw_days} days", p.rows, p.reports)
                }
                Ok(_) => {}
                Err(e) => tracing::error!("retention: {e}"),
            }
        }
        if let Some(days) = days {
            match store.prune_analytics(unix_now() - i64::from(days) * 86_400).await {
                Ok(n) if n > 0 => tracing::info!("retention: deleted {n} visits older than {days} days"),
                Ok(_) => {}
                Err(e) => tracing::error!("retention: {e}"),
            }
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the process still ends on SIGTERM, abruptly.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
