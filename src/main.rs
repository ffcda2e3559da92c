//! presenced: probe requests in, signed Presence Reporting API reports out.

use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use presenced::config::{Args, Command, KEY_ENV, USAGE};
use presenced::hostapd::{associated_stations, HostapdConfig};
use presenced::deliver::reporter::AssociatedLookup;
use presenced::{daemon, logger};

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("presenced {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(e),
    };
    let config = match args.validate(std::env::var_os(KEY_ENV)) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    logger::init(config.log_level);
    for w in &config.warnings {
        log::warn!("{w}");
    }
    let proxies = presenced::deliver::http::proxy_variables_set(|n| std::env::var(n).ok());
    if config.url.is_some() && !proxies.is_empty() {
        log::info!("{} set, and ignored: presenced posts to --url directly", proxies.join(", "));
    }

    // SIGHUP too: procd and shells send it, and presenced has no
    // configuration file to reread, so it stops as for SIGTERM.
    // `stop` says which signal came (for the log); signal-hook's
    // conditional shutdown needs a flag of its own, an AtomicBool.
    let stop = Arc::new(AtomicUsize::new(0));
    let stop_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for signal in [SIGTERM, SIGINT, SIGHUP] {
        // A second signal while the last report is on its way ends at once.
        let registered = signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop_flag))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop_flag)))
            .and_then(|_| signal_hook::flag::register_usize(signal, Arc::clone(&stop), signal as usize));
        if let Err(e) = registered {
            log::error!("cannot handle signal {signal}: {e}");
            return ExitCode::FAILURE;
        }
    }

    let redact = config.pseudonyms.is_some();
    let associated = config.hostapd.clone().map(|h| hostapd_lookup(h, config.ubus_socket.clone(), redact));
    match daemon::run(&config, &stop, associated) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(e: presenced::config::ConfigError) -> ExitCode {
    eprintln!("presenced: {e}");
    ExitCode::from(2)
}

/// Reads hostapd's station lists for each report: over ubus (get_clients)
/// when ubusd has hostapd objects, else from hostapd's control sockets, in
/// the same deadline. A warning that repeats the previous report's word for
/// word goes to the debug level, so that an access point without hostapd
/// does not fill the log with one line every Rate seconds; any change is
/// logged as a warning again. With `redact` (the pseudonyms are on) station
/// MACs that hostapd's answers put into a warning are blanked out: no raw
/// client MAC reaches the log.
fn hostapd_lookup(cfg: HostapdConfig, ubus_socket: std::path::PathBuf, redact: bool) -> AssociatedLookup {
    let mut previous: Vec<String> = Vec::new();
    Box::new(move |deadline| {
        let mut found = match presenced::ubus::lookup::associated(&ubus_socket, deadline) {
            Ok(found) => found,
            Err(why) => {
                log::debug!("{why}: asking hostapd's control sockets");
                associated_stations(&cfg, deadline)
            }
        };
        if redact {
            found.warnings = found.warnings.iter().map(|w| presenced::window::privacy::redact_macs(w)).collect();
        }
        for w in &found.warnings {
            if previous.contains(w) {
                log::debug!("{w} (again)");
            } else {
                log::warn!("{w}");
            }
        }
        previous = found.warnings;
        found.stations
    })
}
