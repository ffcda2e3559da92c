//! Command line to a typed, validated configuration.
//!
//! Parsing (`Args::parse`) only reads the argument list; `Args::validate`
//! checks combinations and values, reads the key file, and yields a `Config`
//! the daemon can trust. Every error names the option at fault, and the binary
//! turns it into one line and exit status 2.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::status::{without_userinfo, Settings};
use crate::hostapd::{HostapdConfig, DEFAULT_CLIENT_DIR, DEFAULT_HOSTAPD_DIR};
use crate::wire::mac::MacAddr;
use crate::window::privacy::{Pseudonymizer, Rotation};
use crate::window::table::Admission;

pub const DEFAULT_RATE_SECS: u32 = 30;
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;
/// At this cap a report is about 3.5 MB (some 178 bytes a row), which
/// presenced-server's 4 MiB body limit takes and a modest uplink sends
/// within the POST timeout; memory is not what limits it: a row costs about
/// MEMORY_PER_CLIENT bytes at report time (measured by `make bench`: the
/// table entry and the window's row, the report being streamed from them),
/// about 3 MB at the cap, which a 64 MB access point can spare.
pub const MAX_MAX_CLIENTS: usize = 20_000;
/// Bytes of peak memory per client row, measured (see `make bench`).
pub const MEMORY_PER_CLIENT: usize = 150;
/// Receivers keep network_id in a signed 32-bit column or a PHP int on a
/// 32-bit build; above this they would store a different number.
pub const MAX_NETWORK_ID: u64 = i32::MAX as u64;
pub use presenced_report::MAX_KEY_FILE_BYTES;
/// Debian's and OpenWrt's (package ca-bundle) system CA bundle.
pub const DEFAULT_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
pub use presenced_report::KEY_ENV;
/// The smallest `--spool-bytes`: one report of a few clients. Less is a
/// spool that can never keep anything, which is surely a typo.
pub const MIN_SPOOL_BYTES: usize = 1024;
/// The largest: 64 MiB is all the RAM of a small access point.
pub const MAX_SPOOL_BYTES: usize = 64 << 20;

pub const USAGE: &str = "\
Usage: presenced (-i IFACE | -r FILE | --source hostapd) (--url URL | --stdout) [options]

Captures 802.11 probe requests on a monitor-mode interface (or replays a
capture file, or reads them from hostapd over ubus) and every RATE seconds
sends per-client statistics as a signed Presence Reporting API report.

Source (exactly one):
  -i, --interface IFACE   capture live on IFACE (monitor mode, radiotap)
  -r, --read FILE         replay a pcap or pcapng file, then exit
      --source hostapd    the probe notifications of OpenWrt's hostapd over
                          ubus (every hostapd.* object; no monitor interface;
                          needs --node-mac). --source monitor is -i/-r
      --ubus-socket PATH  ubusd's socket, for --source hostapd and for
                          `associated` [default: /var/run/ubus/ubus.sock]

Destination (one or both):
      --url URL           POST each report to URL (http:// or https://)
      --stdout            print each report body as one JSON line

Options:
      --key-file FILE     HMAC key for the Signature header: a regular file of
                          at most 4096 bytes, less a trailing newline (or set
                          the environment variable PRESENCED_KEY); needed
                          with --url
      --rate SECS         seconds per report [default: 30]
      --network-id N      network_id of the report, 0 to 2147483647 [default: 0]
      --node-mac MAC      node_mac of the report [default: the MAC of IFACE;
                          required with -r]
      --max-clients N     clients per report, 1 to 20000 (each costs about
                          150 bytes of memory and 178 bytes of report); new
                          ones beyond are counted and left out
                          [default: 10000]
      --hostapd-dir DIR   hostapd control sockets, read for `associated` when
                          ubus has no hostapd.* object [default: /var/run/hostapd]
      --no-hostapd        do not ask hostapd (neither over ubus nor its
                          control sockets): `associated` is always false
      --run-dir DIR       where presenced binds its own sockets
                          [default: /var/run/presenced]
      --ca-file FILE      CA certificates (PEM) for https
                          [default: /etc/ssl/certs/ca-certificates.crt]
  -v, --verbose           more log output (twice: trace)
  -q, --quiet             warnings and errors only
  -h, --help              this text
  -V, --version           the version

Privacy and counting (all off by default; off, the reports are unchanged):
      --pseudonymize-key-file FILE
                          replace each client MAC in the report by a keyed
                          pseudonym formatted as a MAC (first 6 bytes of
                          HMAC-SHA256(key, MAC), locally administered bit set,
                          group bit clear); the key file as for --key-file
      --pseudonymize-rotate never|daily
                          daily: mix the UTC date of the window into the
                          key, so that a pseudonym lives one day
                          [default: never]
      --randomized-macs keep|drop|merge
                          drop (and count as `randomized`) clients whose
                          address is locally administered, or merge them
                          into estimated devices [default: keep]
      --min-signal DBM    drop (and count as `weak_signal`) probe requests
                          weaker than DBM, -128 to 0
      --spool-bytes N     keep reports the server did not take in memory, up
                          to N bytes in all (1024 to 67108864), and send them
                          again, oldest first, once it takes reports again
                          (needs --url)
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Interface(String),
    File(PathBuf),
    /// hostapd's probe notifications over ubus (`--source hostapd`).
    Hostapd,
}

/// Everything the daemon needs, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub source: Source,
    pub url: Option<String>,
    /// Present whenever `url` is.
    pub key: Option<Vec<u8>>,
    pub rate_secs: u32,
    pub network_id: u64,
    /// `None` only for live capture: then the interface's own MAC is read.
    pub node_mac: Option<MacAddr>,
    pub max_clients: usize,
    pub stdout: bool,
    /// `None` when hostapd is not to be asked. Its `client_dir` is `--run-dir`.
    pub hostapd: Option<HostapdConfig>,
    pub ca_file: PathBuf,
    /// ubusd's socket: the source with `Source::Hostapd`, and the first
    /// place `associated` is asked (when `hostapd` is set).
    pub ubus_socket: PathBuf,
    pub log_level: log::LevelFilter,
    /// `--pseudonymize-key-file`: client MACs are replaced in reports.
    pub pseudonyms: Option<Pseudonymizer>,
    /// `--randomized-macs`, `--min-signal`.
    pub admission: Admission,
    /// `--spool-bytes`; only with `url`.
    pub spool_bytes: Option<usize>,
    /// Things worth a warning that do not stop presenced (a key file others
    /// can read); logged once the logger is up.
    pub warnings: Vec<String>,
}

/// Never prints the key.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("source", &self.source)
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("rate_secs", &self.rate_secs)
            .field("network_id", &self.network_id)
            .field("node_mac", &self.node_mac)
            .field("max_clients", &self.max_clients)
            .field("stdout", &self.stdout)
            .field("hostapd", &self.hostapd)
            .field("ca_file", &self.ca_file)
            .field("ubus_socket", &self.ubus_socket)
            .field("log_level", &self.log_level)
            .field("pseudonyms", &self.pseudonyms)
            .field("admission", &self.admission)
            .field("spool_bytes", &self.spool_bytes)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl Config {
    /// The settings `ubus call presenced status` shows: no key, no
    /// credentials in the URL.
    pub fn status_settings(&self) -> Settings {
        let (source, interface) = match &self.source {
            Source::Interface(i) => ("monitor", Some(i.clone())),
            Source::File(p) => ("file", Some(p.display().to_string())),
            Source::Hostapd => ("hostapd", None),
        };
        let randomized_macs = match (self.admission.drop_randomized, self.admission.merge_randomized) {
            (true, _) => "drop",
            (false, true) => "merge",
            (false, false) => "keep",
        };
        Settings {
            source,
            interface,
            url: self.url.as_deref().map(without_userinfo),
            rate_secs: self.rate_secs,
            network_id: self.network_id,
            node_mac: self.node_mac.map(|m| m.to_upper_string()),
            max_clients: self.max_clients,
            hostapd: self.hostapd.is_some(),
            pseudonymize: self.pseudonyms.is_some(),
            randomized_macs,
            min_signal: (self.admission.min_signal != i8::MIN).then_some(self.admission.min_signal),
            spool_bytes: self.spool_bytes,
        }
    }
}

/// A usage error: which option, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub option: String,
    pub problem: String,
}

impl ConfigError {
    fn new(option: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError { option: option.into(), problem: problem.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Args),
    Help,
    Version,
}

/// The command line as given, before any check that involves more than one
/// option or the file system.
#[derive(Debug, Default)]
pub struct Args {
    pub interface: Option<String>,
    pub read: Option<PathBuf>,
    pub url: Option<String>,
    pub key_file: Option<PathBuf>,
    pub rate: Option<String>,
    pub network_id: Option<String>,
    pub node_mac: Option<String>,
    pub max_clients: Option<String>,
    pub stdout: bool,
    pub hostapd_dir: Option<PathBuf>,
    pub no_hostapd: bool,
    pub run_dir: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub source: Option<String>,
    pub ubus_socket: Option<PathBuf>,
    pub verbose: u8,
    pub quiet: bool,
    pub pseudonymize_key_file: Option<PathBuf>,
    pub pseudonymize_rotate: Option<String>,
    pub randomized_macs: Option<String>,
    pub min_signal: Option<String>,
    pub spool_bytes: Option<String>,
}

impl Args {
    /// `args` without the program name.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, ConfigError> {
        use lexopt::prelude::*;
        let mut parser = lexopt::Parser::from_args(args);
        let mut a = Args::default();
        loop {
            let arg = match parser.next() {
                Ok(Some(arg)) => arg,
                Ok(None) => break,
                Err(e) => return Err(lexopt_error(e)),
            };
            let name = match &arg {
                Short(c) => format!("-{c}"),
                Long(l) => format!("--{l}"),
                Value(v) => {
                    return Err(ConfigError::new(
                        v.to_string_lossy(),
                        "unexpected argument (options start with - or --; see --help)",
                    ))
                }
            };
            match arg {
                Short('i') | Long("interface") => a.interface = Some(string_value(&mut parser, &name)?),
                Short('r') | Long("read") => a.read = Some(parser.value().map_err(lexopt_error)?.into()),
                Long("url") => a.url = Some(string_value(&mut parser, &name)?),
                Long("key-file") => a.key_file = Some(parser.value().map_err(lexopt_error)?.into()),
                Long("key") => {
                    return Err(ConfigError::new(
                        name,
                        format!("the key is never given on the command line (other users can read it there): use --key-file FILE or the environment variable {KEY_ENV}"),
                    ))
                }
                Long("rate") => a.rate = Some(string_value(&mut parser, &name)?),
                Long("network-id") => a.network_id = Some(string_value(&mut parser, &name)?),
                Long("node-mac") => a.node_mac = Some(string_value(&mut parser, &name)?),
                Long("max-clients") => a.max_clients = Some(string_value(&mut parser, &name)?),
                Long("stdout") => a.stdout = true,
                Long("hostapd-dir") => a.hostapd_dir = Some(parser.value().map_err(lexopt_error)?.into()),
                Long("no-hostapd") => a.no_hostapd = true,
                Long("run-dir") => a.run_dir = Some(parser.value().map_err(lexopt_error)?.into()),
                Long("ca-file") => a.ca_file = Some(parser.value().map_err(lexopt_error)?.into()),
                Long("source") => a.source = Some(string_value(&mut parser, &name)?),
                Long("ubus-socket") => a.ubus_socket = Some(parser.value().map_err(lexopt_error)?.into()),
                Long("pseudonymize-key-file") => {
                    a.pseudonymize_key_file = Some(parser.value().map_err(lexopt_error)?.into())
                }
                Long("pseudonymize-rotate") => a.pseudonymize_rotate = Some(string_value(&mut parser, &name)?),
                Long("randomized-macs") => a.randomized_macs = Some(string_value(&mut parser, &name)?),
                Long("min-signal") => a.min_signal = Some(string_value(&mut parser, &name)?),
                Long("spool-bytes") => a.spool_bytes = Some(string_value(&mut parser, &name)?),
                Short('v') | Long("verbose") => a.verbose = a.verbose.saturating_add(1),
                Short('q') | Long("quiet") => a.quiet = true,
                Short('h') | Long("help") => return Ok(Command::Help),
                Short('V') | Long("version") => return Ok(Command::Version),
                _ => return Err(ConfigError::new(name, "unknown option (see --help)")),
            }
        }
        Ok(Command::Run(a))
    }

    /// Checks every value and combination, and reads the key (from
    /// `--key-file`, else from `env_key`, the value of PRESENCED_KEY).
    pub fn validate(self, env_key: Option<OsString>) -> Result<Config, ConfigError> {
        let from_hostapd = validate_source(self.source.as_deref(), self.interface.is_some() || self.read.is_some())?;
        let source = match (self.interface, self.read) {
            (None, None) if from_hostapd => Source::Hostapd,
            (Some(i), None) if i.is_empty() => return Err(ConfigError::new("--interface", "is empty")),
            (Some(i), None) => Source::Interface(i),
            (None, Some(r)) => Source::File(r),
            (Some(_), Some(_)) => {
                return Err(ConfigError::new("--interface/--read", "give one of them, not both"))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "--interface/--read",
                    "give one: -i IFACE to capture live, or -r FILE to replay a capture",
                ))
            }
        };
        if self.url.is_none() && !self.stdout {
            return Err(ConfigError::new(
                "--url/--stdout",
                "give at least one: --url URL to send reports, --stdout to print them",
            ));
        }
        let url = match self.url {
            Some(u) => Some(validate_url(&u)?),
            None => None,
        };
        let mut warnings = Vec::new();
        let key = match (&url, self.key_file) {
            (None, _) => None,
            (Some(_), Some(path)) => {
                let key = read_key_file(&path, "--key-file").map_err(|problem| ConfigError::new("--key-file", problem))?;
                warnings.extend(key.warning);
                Some(key.bytes)
            }
            (Some(_), None) => match env_key {
                Some(k) if !k.is_empty() => Some(os_bytes(k)),
                Some(_) => return Err(ConfigError::new(KEY_ENV, "is empty")),
                None => {
                    return Err(ConfigError::new(
                        "--key-file",
                        format!("--url needs the HMAC key: give --key-file FILE or set {KEY_ENV}"),
                    ))
                }
            },
        };
        let rate_secs = match self.rate {
            None => DEFAULT_RATE_SECS,
            Some(r) => match r.parse::<u32>() {
                Ok(0) => return Err(ConfigError::new("--rate", "must be at least 1 second")),
                Ok(n) => n,
                Err(_) => {
                    return Err(ConfigError::new(
                        "--rate",
                        format!("'{r}' is not a whole number of seconds from 1 to {}", u32::MAX),
                    ))
                }
            },
        };
        let network_id = match self.network_id {
            None => 0,
            Some(n) => match n.parse::<u64>() {
                Ok(id) if id <= MAX_NETWORK_ID => id,
                _ => {
                    return Err(ConfigError::new(
                        "--network-id",
                        format!(
                            "'{n}' is not a whole number from 0 to {MAX_NETWORK_ID} \
                             (receivers store network_id as a signed 32-bit number)"
                        ),
                    ))
                }
            },
        };
        let node_mac = match self.node_mac {
            Some(m) => Some(m.parse::<MacAddr>().map_err(|e| ConfigError::new("--node-mac", e.to_string()))?),
            None => None,
        };
        if node_mac.is_none() && matches!(source, Source::File(_)) {
            return Err(ConfigError::new(
                "--node-mac",
                "is required with --read: a capture file has no interface to take the MAC from",
            ));
        }
        if node_mac.is_none() && source == Source::Hostapd {
            return Err(ConfigError::new(
                "--node-mac",
                "is required with --source hostapd: there is no capture interface to take the MAC from",
            ));
        }
        let ubus_socket = self.ubus_socket.unwrap_or_else(|| crate::ubus::DEFAULT_SOCKET.into());
        if ubus_socket.as_os_str().is_empty() {
            return Err(ConfigError::new("--ubus-socket", "must not be empty"));
        }
        let max_clients = match self.max_clients {
            None => DEFAULT_MAX_CLIENTS,
            Some(m) => match m.parse::<usize>() {
                Ok(n) if (1..=MAX_MAX_CLIENTS).contains(&n) => n,
                _ => {
                    return Err(ConfigError::new(
                        "--max-clients",
                        format!(
                            "'{m}' is not a whole number from 1 to {MAX_MAX_CLIENTS} \
                             (a report of that many is about 3.5 MB, near what receivers take)"
                        ),
                    ))
                }
            },
        };
        if self.no_hostapd && self.hostapd_dir.is_some() {
            return Err(ConfigError::new("--no-hostapd", "contradicts --hostapd-dir: give one of them"));
        }
        let hostapd = if self.no_hostapd {
            None
        } else {
            let cfg = HostapdConfig {
                hostapd_dir: self.hostapd_dir.unwrap_or_else(|| DEFAULT_HOSTAPD_DIR.into()),
                client_dir: self.run_dir.unwrap_or_else(|| DEFAULT_CLIENT_DIR.into()),
                ..HostapdConfig::default()
            };
            cfg.validate().map_err(|e| {
                let text = e.to_string();
                match text.split_once(": ") {
                    Some((option, problem)) if option.starts_with("--") => ConfigError::new(option, problem),
                    _ => ConfigError::new("--hostapd-dir", text),
                }
            })?;
            Some(cfg)
        };
        let log_level = match (self.quiet, self.verbose) {
            (true, 0) => log::LevelFilter::Warn,
            (true, _) => return Err(ConfigError::new("--quiet", "contradicts --verbose")),
            (false, 0) => log::LevelFilter::Info,
            (false, 1) => log::LevelFilter::Debug,
            (false, _) => log::LevelFilter::Trace,
        };
        let pseudonyms = validate_pseudonyms(self.pseudonymize_key_file, self.pseudonymize_rotate, key.as_deref(), &mut warnings)?;
        let admission = validate_admission(self.randomized_macs, self.min_signal)?;
        let spool_bytes = validate_spool(self.spool_bytes, url.is_some())?;
        Ok(Config {
            source,
            url,
            key,
            rate_secs,
            network_id,
            node_mac,
            max_clients,
            stdout: self.stdout,
            hostapd,
            ca_file: self.ca_file.unwrap_or_else(|| DEFAULT_CA_FILE.into()),
            ubus_socket,
            log_level,
            pseudonyms,
            admission,
            spool_bytes,
            warnings,
        })
    }
}

/// `--source`: whether probe requests come from hostapd over ubus. Both
/// sources at once would count a frame twice (hostapd's notification and the
/// monitor interface's copy carry nothing to match them by), so
/// `--source hostapd` takes no `-i`/`-r`.
fn validate_source(source: Option<&str>, capture_given: bool) -> Result<bool, ConfigError> {
    match source {
        None | Some("monitor") => Ok(false),
        Some("hostapd") if capture_given => Err(ConfigError::new(
            "--source",
            "hostapd takes no --interface/--read: one source at a time, or each probe request would count twice",
        )),
        Some("hostapd") => Ok(true),
        Some(other) => Err(ConfigError::new("--source", format!("'{other}' is neither hostapd nor monitor"))),
    }
}

/// `--pseudonymize-key-file` and `--pseudonymize-rotate`.
fn validate_pseudonyms(
    key_file: Option<PathBuf>,
    rotate: Option<String>,
    signature_key: Option<&[u8]>,
    warnings: &mut Vec<String>,
) -> Result<Option<Pseudonymizer>, ConfigError> {
    let rotation = match rotate.as_deref() {
        None | Some("never") => Rotation::Never,
        Some("daily") => Rotation::Daily,
        Some(other) => {
            return Err(ConfigError::new("--pseudonymize-rotate", format!("'{other}' is not never or daily")))
        }
    };
    let Some(path) = key_file else {
        if rotate.is_some() {
            return Err(ConfigError::new(
                "--pseudonymize-rotate",
                "needs --pseudonymize-key-file: there are no pseudonyms to rotate",
            ));
        }
        return Ok(None);
    };
    const OPTION: &str = "--pseudonymize-key-file";
    let key = read_key_file(&path, OPTION).map_err(|problem| ConfigError::new(OPTION, problem))?;
    warnings.extend(key.warning);
    if signature_key == Some(&key.bytes[..]) {
        // The receiver holds the Signature key: with it, anyone there could
        // hash candidate MACs and undo the pseudonyms.
        warnings.push(format!(
            "{OPTION}: the pseudonym key is the Signature key, which the receiver holds: it can undo the pseudonyms; use a key of its own"
        ));
    }
    Ok(Some(Pseudonymizer::new(key.bytes, rotation)))
}

/// `--randomized-macs` and `--min-signal`.
fn validate_admission(randomized: Option<String>, min_signal: Option<String>) -> Result<Admission, ConfigError> {
    let (drop_randomized, merge_randomized) = match randomized.as_deref() {
        None | Some("keep") => (false, false),
        Some("drop") => (true, false),
        Some("merge") => (false, true),
        Some(other) => return Err(ConfigError::new("--randomized-macs", format!("'{other}' is not keep, drop or merge"))),
    };
    let min_signal = match min_signal {
        None => i8::MIN,
        Some(m) => match m.parse::<i8>() {
            Ok(n) if n <= 0 => n,
            Ok(n) => {
                return Err(ConfigError::new(
                    "--min-signal",
                    format!("'{n}' dBm is above 0 dBm, stronger than any phone is heard; signals are negative (-{n}?)"),
                ))
            }
            Err(_) => {
                return Err(ConfigError::new("--min-signal", format!("'{m}' is not a whole number of dBm from -128 to 0")))
            }
        },
    };
    Ok(Admission { drop_randomized, merge_randomized, min_signal })
}

/// `--spool-bytes`: only where there is a server to send to again.
fn validate_spool(spool_bytes: Option<String>, has_url: bool) -> Result<Option<usize>, ConfigError> {
    let Some(text) = spool_bytes else { return Ok(None) };
    let n = match text.parse::<usize>() {
        Ok(n) if (MIN_SPOOL_BYTES..=MAX_SPOOL_BYTES).contains(&n) => n,
        _ => {
            return Err(ConfigError::new(
                "--spool-bytes",
                format!("'{text}' is not a whole number of bytes from {MIN_SPOOL_BYTES} to {MAX_SPOOL_BYTES}"),
            ))
        }
    };
    if !has_url {
        return Err(ConfigError::new("--spool-bytes", "needs --url: the spool keeps reports a server did not take"));
    }
    Ok(Some(n))
}

fn string_value(parser: &mut lexopt::Parser, name: &str) -> Result<String, ConfigError> {
    let value = parser.value().map_err(lexopt_error)?;
    value
        .into_string()
        .map_err(|v| ConfigError::new(name, format!("'{}' is not valid UTF-8", v.to_string_lossy())))
}

fn lexopt_error(e: lexopt::Error) -> ConfigError {
    match e {
        lexopt::Error::MissingValue { option: Some(o) } => ConfigError::new(o, "needs a value"),
        lexopt::Error::UnexpectedValue { option, .. } => ConfigError::new(option, "takes no value"),
        other => ConfigError::new("command line", other.to_string()),
    }
}

/// An environment value as bytes, unchanged (a key need not be UTF-8).
pub(crate) fn os_bytes(s: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    s.into_vec()
}

/// The key is the file's bytes less trailing line ends, by the rule the
/// receiver and presenced-server use too (or signatures would not match).
pub use presenced_report::key_from_file;

/// The reader every program with a key file uses (regular file, size cap,
/// no blocking open, a warning when others may read it).
pub use presenced_report::{read_key_file, KeyFile};

/// http:// or https:// with a host; https only in builds with TLS.
fn validate_url(url: &str) -> Result<String, ConfigError> {
    let target = crate::deliver::http::Target::parse(url).map_err(|e| ConfigError::new("--url", e.0))?;
    if target.https && !cfg!(feature = "tls") {
        return Err(ConfigError::new("--url", format!("'{url}' is https, but this build of presenced has no TLS")));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, ConfigError> {
        Args::parse(args.iter().map(OsString::from))
    }

    fn config(args: &[&str], env_key: Option<&str>) -> Result<Config, ConfigError> {
        match parse(args)? {
            Command::Run(a) => a.validate(env_key.map(OsString::from)),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    fn error_option(args: &[&str], env_key: Option<&str>) -> String {
        match config(args, env_key) {
            Err(e) => e.option,
            Ok(c) => panic!("{args:?} was accepted: {c:?}"),
        }
    }

    #[test]
    fn a_minimal_live_run_gets_the_documented_defaults() {
        let c = config(&["-i", "mon0", "--url", "http://127.0.0.1:8080/p"], Some("secret")).unwrap();
        assert_eq!(c.source, Source::Interface("mon0".into()));
        assert_eq!(c.key.as_deref(), Some(&b"secret"[..]));
        assert_eq!(c.rate_secs, 30);
        assert_eq!(c.max_clients, 10_000);
        assert_eq!(c.network_id, 0);
        assert_eq!(c.node_mac, None);
        let h = c.hostapd.as_ref().unwrap();
        assert_eq!(h.hostapd_dir, PathBuf::from("/var/run/hostapd"));
        assert_eq!(h.client_dir, PathBuf::from("/var/run/presenced"));
        assert_eq!(c.log_level, log::LevelFilter::Info);
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn every_bad_combination_names_its_option() {
        let file = ["-r", "x.pcap", "--node-mac", "02:00:00:00:00:01"];
        let with = |extra: &[&str]| -> Vec<String> {
            file.iter().chain(extra.iter()).map(|s| s.to_string()).collect()
        };
        let opt = |v: Vec<String>, key: Option<&str>| {
            let refs: Vec<&str> = v.iter().map(|s| s.as_str()).collect();
            error_option(&refs, key)
        };
        assert_eq!(opt(with(&[]), None), "--url/--stdout");
        assert_eq!(opt(with(&["--stdout", "-i", "wlan0"]), None), "--interface/--read");
        assert_eq!(error_option(&["--stdout"], None), "--interface/--read");
        assert_eq!(opt(with(&["--url", "http://h/"]), None), "--key-file");
        assert_eq!(opt(with(&["--url", "http://h/"]), Some("")), "PRESENCED_KEY");
        assert_eq!(opt(with(&["--url", "ftp://h/"]), Some("k")), "--url");
        assert_eq!(opt(with(&["--url", "not a url"]), Some("k")), "--url");
        assert_eq!(opt(with(&["--url", "http:///path"]), Some("k")), "--url");
        assert_eq!(opt(with(&["--stdout", "--rate", "0"]), None), "--rate");
        assert_eq!(opt(with(&["--stdout", "--rate", "-5"]), None), "--rate");
        assert_eq!(opt(with(&["--stdout", "--rate", "4294967296"]), None), "--rate");
        assert_eq!(opt(with(&["--stdout", "--rate", "1.5"]), None), "--rate");
        assert_eq!(opt(with(&["--stdout", "--network-id", "-1"]), None), "--network-id");
        assert_eq!(opt(with(&["--stdout", "--node-mac", "02:00:00:00:00"]), None), "--node-mac");
        assert_eq!(opt(with(&["--stdout", "--max-clients", "0"]), None), "--max-clients");
        assert_eq!(opt(with(&["--stdout", "--max-clients", "20001"]), None), "--max-clients");
        assert_eq!(opt(with(&["--stdout", "--max-clients", "1000000"]), None), "--max-clients");
        assert_eq!(opt(with(&["--stdout", "--network-id", "2147483648"]), None), "--network-id");
        assert_eq!(opt(with(&["--stdout", "--network-id", "9007199254740993"]), None), "--network-id");
        assert_eq!(opt(with(&["--url", "http://u:p@h/"]), Some("k")), "--url");
        assert_eq!(opt(with(&["--stdout", "--no-hostapd", "--hostapd-dir", "/x"]), None), "--no-hostapd");
        assert_eq!(opt(with(&["--stdout", "-q", "-v"]), None), "--quiet");
        assert_eq!(opt(with(&["--stdout", "--run-dir", "/run/h", "--hostapd-dir", "/run/h"]), None), "--run-dir");
        assert_eq!(opt(with(&["--stdout", "--hostapd-dir", ""]), None), "--hostapd-dir");
        assert_eq!(error_option(&["-r", "x.pcap", "--stdout"], None), "--node-mac");
        assert_eq!(error_option(&["-r", "x", "--stdout", "--bogus"], None), "--bogus");
        assert_eq!(error_option(&["-r", "x", "--stdout", "stray"], None), "stray");
        assert_eq!(error_option(&["-r", "x", "--stdout", "--rate"], None), "--rate");
        assert_eq!(error_option(&["-r", "x", "--stdout", "--stdout=yes"], None), "--stdout");
    }

    #[test]
    fn the_key_is_never_a_flag() {
        let e = config(&["-i", "wlan0", "--url", "http://h/", "--key", "abc"], None).unwrap_err();
        assert_eq!(e.option, "--key");
        assert!(e.problem.contains("--key-file"));
        assert!(!e.to_string().contains("abc"));
    }

    #[test]
    fn the_key_file_loses_one_trailing_newline_and_wins_over_the_environment() {
        let dir = std::env::temp_dir().join(format!("presenced-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, b"s3cret \n").unwrap();
        let p = path.to_str().unwrap();
        let c = config(&["-i", "w", "--url", "https://h/", "--key-file", p], Some("env")).unwrap();
        assert_eq!(c.key.as_deref(), Some(&b"s3cret "[..]));
        std::fs::write(&path, b"\n").unwrap();
        assert_eq!(error_option(&["-i", "w", "--url", "http://h/", "--key-file", p], None), "--key-file");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(error_option(&["-i", "w", "--url", "http://h/", "--key-file", p], None), "--key-file");
    }

    fn key_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("presenced-key-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn key_problem(path: &std::path::Path) -> String {
        let e = config(&["-i", "w", "--url", "http://h/", "--key-file", path.to_str().unwrap()], None).unwrap_err();
        assert_eq!(e.option, "--key-file");
        e.problem
    }

    #[test]
    fn only_a_small_regular_file_is_a_key_file() {
        // /dev/zero would be read until memory runs out.
        assert!(key_problem(std::path::Path::new("/dev/zero")).contains("not a regular file"));
        let dir = key_dir("kinds");
        assert!(key_problem(&dir).contains("not a regular file"));
        // A FIFO with no writer: opening it to read would block for ever.
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(key_problem(&fifo).contains("not a regular file"));
        let big = dir.join("big");
        std::fs::write(&big, vec![b'k'; 4097]).unwrap();
        assert!(key_problem(&big).contains("4097 bytes"), "{}", key_problem(&big));
        std::fs::write(&big, vec![b'k'; 4096]).unwrap();
        let c = config(&["-i", "w", "--url", "http://h/", "--key-file", big.to_str().unwrap()], None).unwrap();
        assert_eq!(c.key.map(|k| k.len()), Some(4096));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_file_others_can_read_is_taken_with_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = key_dir("modes");
        let path = dir.join("key");
        std::fs::write(&path, b"k\n").unwrap();
        let run = |mode: u32| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            config(&["-i", "w", "--url", "http://h/", "--key-file", path.to_str().unwrap()], None).unwrap().warnings
        };
        assert_eq!(run(0o600), Vec::<String>::new());
        assert_eq!(run(0o400), Vec::<String>::new());
        let w = run(0o640);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("--key-file: ") && w[0].contains("its group") && w[0].contains("0640"), "{w:?}");
        assert!(run(0o644)[0].contains("every user"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_largest_accepted_values_are_the_documented_caps() {
        let c = config(
            &["-r", "x", "--stdout", "--node-mac", "02:00:00:00:00:01", "--network-id", "2147483647", "--max-clients", "20000"],
            None,
        )
        .unwrap();
        assert_eq!((c.network_id, c.max_clients), (2_147_483_647, 20_000));
    }

    #[test]
    fn the_largest_rate_and_all_options_are_taken() {
        let c = config(
            &["-r", "cap.pcapng", "--stdout", "--rate", "4294967295", "--network-id", "221234",
              "--node-mac", "ac:86:74:82:9a:30", "--max-clients", "5", "--no-hostapd",
              "--run-dir", "/tmp/r", "-vv"],
            None,
        )
        .unwrap();
        assert_eq!(c.rate_secs, u32::MAX);
        assert_eq!(c.network_id, 221234);
        assert_eq!(c.node_mac.unwrap().to_upper_string(), "AC:86:74:82:9A:30");
        assert_eq!(c.max_clients, 5);
        assert!(c.hostapd.is_none());
        assert_eq!(c.key, None);
        assert_eq!(c.log_level, log::LevelFilter::Trace);
    }

    #[test]
    fn source_hostapd_needs_a_node_mac_and_no_capture() {
        let c = config(&["--source", "hostapd", "--stdout", "--node-mac", "02:00:00:00:00:01"], None).unwrap();
        assert_eq!(c.source, Source::Hostapd);
        assert_eq!(c.ubus_socket, PathBuf::from("/var/run/ubus/ubus.sock"));
        let c = config(
            &["--source", "hostapd", "--stdout", "--node-mac", "02:00:00:00:00:01", "--ubus-socket", "/tmp/u.sock"],
            None,
        )
        .unwrap();
        assert_eq!(c.ubus_socket, PathBuf::from("/tmp/u.sock"));
        assert_eq!(error_option(&["--source", "hostapd", "--stdout"], None), "--node-mac");
        let mac = ["--node-mac", "02:00:00:00:00:01", "--stdout"];
        let with = |extra: &[&str]| -> Vec<String> { extra.iter().chain(mac.iter()).map(|s| s.to_string()).collect() };
        let opt = |v: Vec<String>| error_option(&v.iter().map(|s| s.as_str()).collect::<Vec<_>>(), None);
        assert_eq!(opt(with(&["--source", "hostapd", "-i", "mon0"])), "--source");
        assert_eq!(opt(with(&["--source", "hostapd", "-r", "x.pcap"])), "--source");
        assert_eq!(opt(with(&["--source", "radio"])), "--source");
        assert_eq!(opt(with(&["--source", "monitor"])), "--interface/--read");
        assert_eq!(opt(with(&["--source", "hostapd", "--ubus-socket", ""])), "--ubus-socket");
        let c = config(&["--source", "monitor", "-i", "mon0", "--stdout"], None).unwrap();
        assert_eq!(c.source, Source::Interface("mon0".into()));
    }

    #[test]
    fn the_privacy_options_are_off_by_default_and_name_themselves_when_wrong() {
        let base = ["-r", "x", "--stdout", "--node-mac", "02:00:00:00:00:01"];
        let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
        let run = |v: Vec<String>| {
            let refs: Vec<&str> = v.iter().map(|s| s.as_str()).collect();
            config(&refs, None)
        };
        let c = run(with(&[])).unwrap();
        assert_eq!((c.pseudonyms.is_none(), c.admission, c.spool_bytes), (true, Admission::default(), None));
        let c = run(with(&["--randomized-macs", "drop", "--min-signal", "-80"])).unwrap();
        assert_eq!(c.admission, Admission { drop_randomized: true, merge_randomized: false, min_signal: -80 });
        let c = run(with(&["--randomized-macs", "merge"])).unwrap();
        assert_eq!(c.admission, Admission { drop_randomized: false, merge_randomized: true, min_signal: i8::MIN });
        assert_eq!(run(with(&["--randomized-macs", "keep", "--min-signal", "-128"])).unwrap().admission, Admission::default());
        // What `ubus call presenced status` shows for each (merge was shown as keep once).
        for choice in ["keep", "drop", "merge"] {
            assert_eq!(run(with(&["--randomized-macs", choice])).unwrap().status_settings().randomized_macs, choice);
        }
        let shown = run(with(&["--min-signal", "-80"])).unwrap().status_settings();
        assert_eq!((shown.randomized_macs, shown.min_signal), ("keep", Some(-80)));
        let opt = |extra: &[&str]| run(with(extra)).unwrap_err().option;
        assert_eq!(opt(&["--randomized-macs", "yes"]), "--randomized-macs");
        assert_eq!(opt(&["--min-signal", "70"]), "--min-signal");
        assert_eq!(opt(&["--min-signal", "-129"]), "--min-signal");
        assert_eq!(opt(&["--min-signal", "-70dBm"]), "--min-signal");
        assert_eq!(opt(&["--pseudonymize-rotate", "daily"]), "--pseudonymize-rotate");
        assert_eq!(opt(&["--pseudonymize-rotate", "hourly", "--pseudonymize-key-file", "/nonexistent"]), "--pseudonymize-rotate");
        assert_eq!(opt(&["--pseudonymize-key-file", "/nonexistent/k"]), "--pseudonymize-key-file");
        assert_eq!(opt(&["--pseudonymize-key-file", "/dev/zero"]), "--pseudonymize-key-file");
        // A spool keeps what a server did not take: with --stdout only there is none.
        assert_eq!(opt(&["--spool-bytes", "262144"]), "--spool-bytes");
        let url = |extra: &[&str]| -> Result<Config, ConfigError> {
            let v: Vec<&str> = ["-r", "x", "--url", "http://h/", "--node-mac", "02:00:00:00:00:01"].iter().chain(extra).copied().collect();
            config(&v, Some("k"))
        };
        assert_eq!(url(&["--spool-bytes", "262144"]).unwrap().spool_bytes, Some(262_144));
        for bad in ["1023", "67108865", "-1", "256k", ""] {
            assert_eq!(url(&["--spool-bytes", bad]).unwrap_err().option, "--spool-bytes", "{bad}");
        }
    }

    #[test]
    fn the_pseudonym_key_file_is_read_like_the_key_file_and_never_shown() {
        use std::os::unix::fs::PermissionsExt;
        let dir = key_dir("pseudonym");
        let path = dir.join("pkey");
        std::fs::write(&path, b"pseudo secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let p = path.to_str().unwrap();
        let c = config(&["-i", "w", "--url", "http://h/", "--pseudonymize-key-file", p, "--pseudonymize-rotate", "daily"], Some("k")).unwrap();
        let expected = Pseudonymizer::new(b"pseudo secret".to_vec(), Rotation::Daily);
        assert_eq!(c.pseudonyms.as_ref(), Some(&expected));
        assert!(c.warnings[0].starts_with("--pseudonymize-key-file: ") && c.warnings[0].contains("every user"), "{:?}", c.warnings);
        assert!(!format!("{c:?}").contains("pseudo secret"));
        // The Signature key as pseudonym key: taken, with a warning.
        let c = config(&["-i", "w", "--url", "http://h/", "--pseudonymize-key-file", p], Some("pseudo secret")).unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("is the Signature key")), "{:?}", c.warnings);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn help_and_version_stop_parsing() {
        assert!(matches!(parse(&["--help", "--bogus"]), Ok(Command::Help)));
        assert!(matches!(parse(&["-V"]), Ok(Command::Version)));
    }
}
