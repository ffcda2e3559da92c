//! One BSS's station list: the lenient parser of a station reply, and the
//! `STA-FIRST` / `STA-NEXT` walk.
//!
//! A station reply is the MAC on the first line, then `key=value` lines whose
//! set depends on hostapd's version, build options, driver and the station's
//! security; only `flags=` is read here and every other line is ignored.
//!
//! A walk that stops early (timeout, `FAIL` because the station we asked
//! about left meanwhile, a vanished socket, garbage) is never passed off as
//! the whole list: `Walk::outcome` carries the reason next to the stations
//! that hostapd did confirm before it.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use super::command::{self, excerpt, Command, CommandError, Transport};
use super::socket::SocketError;
use crate::wire::mac::MacAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Station {
    pub mac: MacAddr,
    /// `flags=[AUTH][ASSOC]…` as words, brackets removed, in hostapd's order.
    pub flags: Vec<String>,
}

impl Station {
    /// The documents' "in a station list of this AP" means associated, and
    /// hostapd lists stations that only authenticated too. 802.1X on a wired
    /// port has no association, so there `AUTHORIZED` alone stands for it.
    pub fn is_associated(&self) -> bool {
        self.flags.iter().any(|f| f == "ASSOC" || f == "AUTHORIZED")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAStation {
    pub first_line: String,
}

impl fmt::Display for NotAStation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reply does not start with a station MAC: {}",
            excerpt(&self.first_line)
        )
    }
}

impl std::error::Error for NotAStation {}

/// Splits on `[` rather than matching `[...]` pairs, because hostapd prints
/// `[PENDING_POLL` without its closing bracket.
pub fn parse_flags(value: &str) -> Vec<String> {
    value
        .split('[')
        .map(|word| word.trim().trim_end_matches(']').trim())
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

/// Pure. Lines without `=` and unknown keys are skipped; a missing `flags=`
/// line leaves the station not associated rather than failing the walk.
pub fn parse_station(reply: &str) -> Result<Station, NotAStation> {
    let mut lines = reply.lines();
    let first_line = lines.next().unwrap_or("").trim();
    let mac = first_line.parse::<MacAddr>().map_err(|_| NotAStation {
        first_line: first_line.to_string(),
    })?;
    let flags = lines
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == "flags")
        .map(|(_, value)| parse_flags(value))
        .unwrap_or_default();
    Ok(Station { mac, flags })
}

#[derive(Clone, Copy, Debug)]
pub struct WalkLimits {
    /// hostapd's own default cap is 2007 stations per BSS.
    pub max_stations: usize,
    /// Checked between requests, so the walk may overrun it by one request
    /// timeout; it bounds a hostapd that answers, but slowly.
    pub max_time: Duration,
}

#[derive(Debug)]
pub enum WalkError {
    Command {
        command: Command,
        error: CommandError,
    },
    Garbage {
        command: Command,
        error: NotAStation,
    },
    /// hostapd's list changed under the walk in a way that led back to a
    /// station already read.
    Repeated(MacAddr),
    TooMany(usize),
    OutOfTime(Duration),
    /// The lookup's deadline came while this request was unanswered (or
    /// still waiting to be taken by hostapd).
    Unanswered(Command),
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Command { command, error } => write!(f, "{command}: {error}"),
            WalkError::Garbage { command, error } => write!(f, "{command}: {error}"),
            WalkError::Repeated(mac) => write!(f, "station list came back to {mac}, stopped"),
            WalkError::TooMany(n) => write!(f, "station list longer than {n}, stopped"),
            WalkError::OutOfTime(t) => write!(
                f,
                "station list not read within {} ms, stopped",
                t.as_millis()
            ),
            WalkError::Unanswered(command) => write!(f, "{command}: no answer by the deadline"),
        }
    }
}

impl std::error::Error for WalkError {}

#[derive(Debug)]
pub struct Walk {
    /// Every station hostapd described before the walk ended, associated or
    /// not, in hostapd's order.
    pub stations: Vec<Station>,
    /// `Ok` only when hostapd said the list ended.
    pub outcome: Result<(), WalkError>,
}

impl Walk {
    pub fn is_complete(&self) -> bool {
        self.outcome.is_ok()
    }

    pub fn associated(&self) -> impl Iterator<Item = MacAddr> + '_ {
        self.stations
            .iter()
            .filter(|s| s.is_associated())
            .map(|s| s.mac)
    }
}

/// One BSS's walk as a state machine, for a caller that carries the
/// datagrams itself: the lookup asks many BSSes at once from one thread.
/// Pure: each reply and the time it arrived come in as arguments.
#[derive(Debug)]
pub struct WalkState {
    limits: WalkLimits,
    started: Instant,
    stations: Vec<Station>,
    seen: HashSet<MacAddr>,
    /// The request whose reply is awaited next.
    request: Command,
    /// `max_stations` have been read: the only acceptable reply now is the
    /// end of the list.
    at_limit: bool,
    outcome: Option<Result<(), WalkError>>,
}

impl WalkState {
    pub fn start(limits: WalkLimits, now: Instant) -> WalkState {
        WalkState {
            limits,
            started: now,
            stations: Vec::new(),
            seen: HashSet::new(),
            request: Command::StaFirst,
            at_limit: false,
            outcome: None,
        }
    }

    /// The request to send, `None` once the walk has ended.
    pub fn request(&self) -> Option<Command> {
        match self.outcome {
            None => Some(self.request),
            Some(_) => None,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.outcome.is_some()
    }

    /// Stations described so far, associated or not.
    pub fn stations_read(&self) -> usize {
        self.stations.len()
    }

    /// hostapd's reply to `request()`, received at `now`. Ignored once the
    /// walk has ended.
    pub fn on_reply(&mut self, reply: &[u8], now: Instant) {
        if self.outcome.is_some() {
            return;
        }
        let command = self.request;
        let text = match command::station_reply(reply) {
            Ok(None) => return self.end(Ok(())),
            Ok(Some(_)) if self.at_limit => {
                return self.end(Err(WalkError::TooMany(self.limits.max_stations)))
            }
            Ok(Some(text)) => text,
            Err(error) => return self.end(Err(WalkError::Command { command, error })),
        };
        let station = match parse_station(&text) {
            Ok(s) => s,
            Err(error) => return self.end(Err(WalkError::Garbage { command, error })),
        };
        if !self.seen.insert(station.mac) {
            return self.end(Err(WalkError::Repeated(station.mac)));
        }
        self.request = Command::StaNext(station.mac);
        self.stations.push(station);
        if self.stations.len() >= self.limits.max_stations {
            // Not an error if hostapd confirms that this was the last one.
            self.at_limit = true;
            return;
        }
        if now.saturating_duration_since(self.started) >= self.limits.max_time {
            self.end(Err(WalkError::OutOfTime(self.limits.max_time)));
        }
    }

    /// The request could not be sent, or its reply not received.
    pub fn on_error(&mut self, error: SocketError) {
        if self.outcome.is_none() {
            let command = self.request;
            self.end(Err(WalkError::Command {
                command,
                error: CommandError::Socket(error),
            }));
        }
    }

    fn end(&mut self, outcome: Result<(), WalkError>) {
        self.outcome = Some(outcome);
    }

    /// The walk as far as it got; one that had not ended is `Unanswered`.
    pub fn into_walk(self) -> Walk {
        let request = self.request;
        Walk {
            stations: self.stations,
            outcome: self.outcome.unwrap_or(Err(WalkError::Unanswered(request))),
        }
    }
}

/// Reads the whole list, or as much of it as hostapd gives before an error,
/// one blocking request after the other.
pub fn walk(transport: &mut impl Transport, limits: &WalkLimits) -> Walk {
    let mut state = WalkState::start(*limits, Instant::now());
    while let Some(command) = state.request() {
        match transport.request(&command) {
            Ok(reply) => state.on_reply(&reply, Instant::now()),
            Err(error) => state.on_error(error),
        }
    }
    state.into_walk()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    /// A WPA2-PSK HT client on a mac80211 radio, in the order hostapd 2.10's
    /// hostapd_ctrl_iface_sta_mib() prints the groups (values invented).
    const WIFI_WPA2_STATION: &str = concat!(
        // the MAC, then ap_sta_flags_txt()
        "a4:c3:f0:5e:12:9b\n",
        "flags=[AUTH][ASSOC][AUTHORIZED][SHORT_PREAMBLE][WMM][HT]\n",
        "aid=3\n",
        "capability=0x431\n",
        "listen_interval=10\n",
        "supported_rates=82 84 8b 96 0c 12 18 24 30 48 60 6c\n",
        "timeout_next=NULLFUNC POLL\n",
        // wpa_get_mib_sta(): RSNA statistics and the authenticator's state
        "dot11RSNAStatsSTAAddress=a4:c3:f0:5e:12:9b\n",
        "dot11RSNAStatsVersion=1\n",
        "dot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-4\n",
        "dot11RSNAStatsTKIPLocalMICFailures=0\n",
        "dot11RSNAStatsTKIPRemoteMICFailures=0\n",
        "wpa=2\n",
        "AKMSuiteSelector=00-0f-ac-2\n",
        "hostapdWPAPTKState=11\n",
        "hostapdWPAPTKGroupState=0\n",
        // hostapd_get_sta_tx_rx(): the driver's statistics
        "rx_packets=18342\n",
        "tx_packets=25110\n",
        "rx_bytes=2291840\n",
        "tx_bytes=30881274\n",
        "inactive_msec=120\n",
        "signal=-61\n",
        "rx_rate_info=650 mcs 7 shortGI\n",
        "tx_rate_info=722 mcs 7 shortGI\n",
        "ht_mcs_bitmask=ffff0000000000000000\n",
        "last_ack_signal=-60\n",
        // hostapd_get_sta_conn_time(), then capabilities from the association
        "connected_time=1843\n",
        "supp_op_classes=51515354737475767778797a7b7c7d7e7f8082\n",
        "min_txpower=-1\n",
        "max_txpower=20\n",
        "ht_caps_info=0x19ef\n",
        "ext_capab=0000080000000040\n",
    );

    /// Debian's hostapd 2.10 with driver=wired, answering STA-FIRST for a
    /// wpa_supplicant that passed EAP-MD5 (captured from the test rig):
    /// ieee802_1x_get_mib_sta()'s block instead of RSNA and driver lines.
    const WIRED_8021X_STATION: &str = "02:00:00:00:aa:01\nflags=[AUTHORIZED]\naid=0\ncapability=0x0\n\
listen_interval=0\nsupported_rates=\ntimeout_next=NULLFUNC POLL\ndot1xPaePortNumber=0\n\
dot1xPaePortProtocolVersion=2\ndot1xPaePortCapabilities=1\ndot1xPaePortInitialize=0\n\
dot1xPaePortReauthenticate=FALSE\ndot1xAuthPaeState=5\ndot1xAuthBackendAuthState=6\n\
dot1xAuthAdminControlledDirections=0\ndot1xAuthOperControlledDirections=0\n\
dot1xAuthAuthControlledPortStatus=1\ndot1xAuthAuthControlledPortControl=2\n\
dot1xAuthQuietPeriod=60\ndot1xAuthServerTimeout=30\ndot1xAuthReAuthPeriod=3600\n\
dot1xAuthReAuthEnabled=TRUE\ndot1xAuthKeyTxEnabled=FALSE\ndot1xAuthEapolFramesRx=3\n\
dot1xAuthEapolFramesTx=3\ndot1xAuthEapolStartFramesRx=1\ndot1xAuthEapolLogoffFramesRx=0\n\
dot1xAuthEapolRespIdFramesRx=0\ndot1xAuthEapolRespFramesRx=2\ndot1xAuthEapolReqIdFramesTx=1\n\
dot1xAuthEapolReqFramesTx=2\ndot1xAuthInvalidEapolFramesRx=0\ndot1xAuthEapLengthErrorFramesRx=0\n\
dot1xAuthLastEapolFrameVersion=1\ndot1xAuthLastEapolFrameSource=02:00:00:00:aa:01\n\
dot1xAuthEntersConnecting=1\ndot1xAuthEapLogoffsWhileConnecting=0\ndot1xAuthEntersAuthenticating=0\n\
dot1xAuthAuthSuccessesWhileAuthenticating=1\ndot1xAuthAuthTimeoutsWhileAuthenticating=0\n\
dot1xAuthAuthFailWhileAuthenticating=0\ndot1xAuthAuthEapStartsWhileAuthenticating=0\n\
dot1xAuthAuthEapLogoffWhileAuthenticating=0\ndot1xAuthAuthReauthsWhileAuthenticated=0\n\
dot1xAuthAuthEapStartsWhileAuthenticated=0\ndot1xAuthAuthEapLogoffWhileAuthenticated=0\n\
dot1xAuthBackendResponses=2\ndot1xAuthBackendAccessChallenges=1\n\
dot1xAuthBackendOtherRequestsToSupplicant=2\ndot1xAuthBackendAuthSuccesses=1\n\
dot1xAuthBackendAuthFails=0\ndot1xAuthSessionId=383E56CD346E62B2\n\
dot1xAuthSessionAuthenticMethod=1\ndot1xAuthSessionTime=1\ndot1xAuthSessionTerminateCause=999\n\
dot1xAuthSessionUserName=alice\nauthMultiSessionId=B8EBC2060211FD58\n\
last_eap_type_as=0 (unknown)\nlast_eap_type_sta=4 (MD5)\n";

    #[test]
    fn full_wifi_block_with_rsna_and_driver_lines() {
        let s = parse_station(WIFI_WPA2_STATION).unwrap();
        assert_eq!(s.mac, MacAddr([0xa4, 0xc3, 0xf0, 0x5e, 0x12, 0x9b]));
        assert_eq!(
            s.flags,
            ["AUTH", "ASSOC", "AUTHORIZED", "SHORT_PREAMBLE", "WMM", "HT"]
        );
        assert!(s.is_associated());
    }

    #[test]
    fn real_wired_8021x_block_is_associated_through_authorized() {
        let s = parse_station(WIRED_8021X_STATION).unwrap();
        assert_eq!(s.mac, MacAddr([0x02, 0, 0, 0, 0xaa, 0x01]));
        assert_eq!(s.flags, ["AUTHORIZED"]);
        assert!(s.is_associated());
    }

    #[test]
    fn empty_flags_is_a_listed_but_not_associated_station() {
        let s = parse_station("3c:22:fb:00:00:01\nflags=\naid=0\n").unwrap();
        assert!(s.flags.is_empty());
        assert!(!s.is_associated());
    }

    #[test]
    fn authenticated_only_is_not_associated() {
        let s = parse_station("3c:22:fb:00:00:01\nflags=[AUTH]\n").unwrap();
        assert!(!s.is_associated());
    }

    #[test]
    fn unclosed_pending_poll_does_not_swallow_the_next_flag() {
        let s =
            parse_station("3c:22:fb:00:00:01\nflags=[AUTH][PENDING_POLL[ASSOC][WMM]\n").unwrap();
        assert_eq!(s.flags, ["AUTH", "PENDING_POLL", "ASSOC", "WMM"]);
        assert!(s.is_associated());
    }

    #[test]
    fn unclosed_last_flag_still_counts() {
        let s = parse_station("3c:22:fb:00:00:01\nflags=[AUTH][ASSOC").unwrap();
        assert_eq!(s.flags, ["AUTH", "ASSOC"]);
        assert!(s.is_associated());
    }

    #[test]
    fn flags_with_assoc_as_a_prefix_are_not_assoc() {
        let s =
            parse_station("3c:22:fb:00:00:01\nflags=[ASSOC_PENDING][AUTHORIZED_NOT]\n").unwrap();
        assert!(!s.is_associated());
    }

    #[test]
    fn missing_flags_line_is_not_associated() {
        let s = parse_station("3c:22:fb:00:00:01\naid=1\nno equals sign here\n=\n").unwrap();
        assert!(!s.is_associated());
    }

    #[test]
    fn crlf_lines_and_upper_case_mac_are_accepted() {
        let s = parse_station("3C:22:FB:00:00:01\r\nflags=[ASSOC]\r\n").unwrap();
        assert_eq!(s.mac, mac("3c:22:fb:00:00:01"));
        assert!(s.is_associated());
    }

    #[test]
    fn replies_that_are_not_stations_are_refused_with_their_first_line() {
        for (reply, first) in [
            ("FAIL\n", "FAIL"),
            ("UNKNOWN COMMAND\n", "UNKNOWN COMMAND"),
            ("\n", ""),
            ("", ""),
            ("PONG\n", "PONG"),
            ("flags=[ASSOC]\n3c:22:fb:00:00:01\n", "flags=[ASSOC]"),
        ] {
            assert_eq!(
                parse_station(reply),
                Err(NotAStation {
                    first_line: first.into()
                }),
                "{reply:?}"
            );
        }
    }

    /// hostapd's list as a script: what each command gets back.
    struct Scripted {
        replies: Vec<(String, Result<Vec<u8>, ()>)>,
        sent: Vec<String>,
    }

    impl Scripted {
        fn new(replies: &[(&str, Result<&str, ()>)]) -> Self {
            Scripted {
                replies: replies
                    .iter()
                    .map(|(c, r)| (c.to_string(), r.map(|t| t.as_bytes().to_vec())))
                    .collect(),
                sent: Vec::new(),
            }
        }
    }

    impl Transport for Scripted {
        fn request(&mut self, command: &Command) -> Result<Vec<u8>, SocketError> {
            let text = command.to_string();
            self.sent.push(text.clone());
            assert!(
                !self.replies.is_empty(),
                "walk sent {text} after the script ended"
            );
            let (expected, reply) = self.replies.remove(0);
            assert_eq!(text, expected);
            reply.map_err(|()| SocketError::NoReply(Duration::from_millis(1)))
        }
    }

    const LIMITS: WalkLimits = WalkLimits {
        max_stations: 100,
        max_time: Duration::from_secs(60),
    };

    #[test]
    fn walk_follows_sta_next_until_the_empty_datagram() {
        let mut t = Scripted::new(&[
            (
                "STA-FIRST",
                Ok("02:00:00:00:00:01\nflags=[AUTH][ASSOC][AUTHORIZED]\n"),
            ),
            (
                "STA-NEXT 02:00:00:00:00:01",
                Ok("02:00:00:00:00:02\nflags=[AUTH]\n"),
            ),
            ("STA-NEXT 02:00:00:00:00:02", Ok("")),
        ]);
        let w = walk(&mut t, &LIMITS);
        assert!(w.is_complete());
        assert_eq!(w.stations.len(), 2);
        assert_eq!(
            w.associated().collect::<Vec<_>>(),
            [mac("02:00:00:00:00:01")]
        );
    }

    #[test]
    fn empty_list_is_complete_and_empty() {
        let w = walk(&mut Scripted::new(&[("STA-FIRST", Ok(""))]), &LIMITS);
        assert!(w.is_complete());
        assert!(w.stations.is_empty());
    }

    #[test]
    fn fail_mid_walk_is_incomplete_but_keeps_what_was_confirmed() {
        let mut t = Scripted::new(&[
            ("STA-FIRST", Ok("02:00:00:00:00:01\nflags=[ASSOC]\n")),
            ("STA-NEXT 02:00:00:00:00:01", Ok("FAIL\n")),
        ]);
        let w = walk(&mut t, &LIMITS);
        assert!(matches!(
            &w.outcome,
            Err(WalkError::Command {
                command: Command::StaNext(_),
                error: CommandError::Fail
            })
        ));
        assert_eq!(
            w.associated().collect::<Vec<_>>(),
            [mac("02:00:00:00:00:01")]
        );
        assert_eq!(
            w.outcome.unwrap_err().to_string(),
            "STA-NEXT 02:00:00:00:00:01: hostapd answered FAIL"
        );
    }

    #[test]
    fn unknown_command_on_sta_first() {
        let w = walk(
            &mut Scripted::new(&[("STA-FIRST", Ok("UNKNOWN COMMAND\n"))]),
            &LIMITS,
        );
        assert!(matches!(
            w.outcome,
            Err(WalkError::Command {
                error: CommandError::UnknownCommand,
                ..
            })
        ));
    }

    #[test]
    fn garbage_stops_the_walk() {
        let mut t = Scripted::new(&[
            ("STA-FIRST", Ok("02:00:00:00:00:01\nflags=[ASSOC]\n")),
            (
                "STA-NEXT 02:00:00:00:00:01",
                Ok("<3>CTRL-EVENT-SOMETHING\n"),
            ),
        ]);
        let w = walk(&mut t, &LIMITS);
        assert!(matches!(w.outcome, Err(WalkError::Garbage { .. })));
        assert_eq!(w.stations.len(), 1);
    }

    #[test]
    fn timeout_mid_walk_is_incomplete() {
        let mut t = Scripted::new(&[
            ("STA-FIRST", Ok("02:00:00:00:00:01\nflags=[ASSOC]\n")),
            ("STA-NEXT 02:00:00:00:00:01", Err(())),
        ]);
        let w = walk(&mut t, &LIMITS);
        assert!(matches!(
            w.outcome,
            Err(WalkError::Command {
                error: CommandError::Socket(_),
                ..
            })
        ));
    }

    #[test]
    fn a_list_that_loops_is_stopped() {
        let mut t = Scripted::new(&[
            ("STA-FIRST", Ok("02:00:00:00:00:01\nflags=[ASSOC]\n")),
            (
                "STA-NEXT 02:00:00:00:00:01",
                Ok("02:00:00:00:00:02\nflags=[ASSOC]\n"),
            ),
            (
                "STA-NEXT 02:00:00:00:00:02",
                Ok("02:00:00:00:00:01\nflags=[ASSOC]\n"),
            ),
        ]);
        let w = walk(&mut t, &LIMITS);
        assert!(matches!(w.outcome, Err(WalkError::Repeated(m)) if m == mac("02:00:00:00:00:01")));
        assert_eq!(w.stations.len(), 2);
    }

    #[test]
    fn the_time_bound_stops_the_walk_between_requests() {
        let limits = WalkLimits {
            max_time: Duration::ZERO,
            ..LIMITS
        };
        let mut t = Scripted::new(&[("STA-FIRST", Ok("02:00:00:00:00:01\nflags=[ASSOC]\n"))]);
        let w = walk(&mut t, &limits);
        assert!(matches!(w.outcome, Err(WalkError::OutOfTime(_))));
        assert_eq!(w.stations.len(), 1);
    }

    #[test]
    fn the_bound_stops_a_longer_list_but_not_one_of_exactly_that_length() {
        let limits = WalkLimits {
            max_stations: 2,
            ..LIMITS
        };
        let exact = [
            ("STA-FIRST", Ok("02:00:00:00:00:01\nflags=[ASSOC]\n")),
            (
                "STA-NEXT 02:00:00:00:00:01",
                Ok("02:00:00:00:00:02\nflags=[ASSOC]\n"),
            ),
            ("STA-NEXT 02:00:00:00:00:02", Ok("")),
        ];
        assert!(walk(&mut Scripted::new(&exact), &limits).is_complete());
        let mut longer = exact;
        longer[2].1 = Ok("02:00:00:00:00:03\nflags=[ASSOC]\n");
        let mut t = Scripted::new(&longer);
        let w = walk(&mut t, &limits);
        assert!(matches!(w.outcome, Err(WalkError::TooMany(2))));
        assert_eq!(w.stations.len(), 2);
        assert_eq!(t.sent.len(), 3);
    }
    #[test]
    fn a_walk_cut_off_keeps_its_stations_and_names_the_unanswered_request() {
        let t0 = Instant::now();
        let mut w = WalkState::start(LIMITS, t0);
        assert_eq!(w.request(), Some(Command::StaFirst));
        w.on_reply(b"02:00:00:00:00:01\nflags=[ASSOC]\n", t0);
        let next = Command::StaNext(mac("02:00:00:00:00:01"));
        assert_eq!(w.request(), Some(next));
        assert!(!w.is_ended());
        assert_eq!(w.stations_read(), 1);
        let walk = w.into_walk();
        assert_eq!(
            walk.associated().collect::<Vec<_>>(),
            [mac("02:00:00:00:00:01")]
        );
        assert!(matches!(walk.outcome, Err(WalkError::Unanswered(c)) if c == next));
        assert_eq!(
            walk.outcome.unwrap_err().to_string(),
            "STA-NEXT 02:00:00:00:00:01: no answer by the deadline"
        );
    }

    #[test]
    fn the_time_bound_uses_the_time_given_with_each_reply() {
        let t0 = Instant::now();
        let mut w = WalkState::start(LIMITS, t0);
        w.on_reply(
            b"02:00:00:00:00:01\nflags=[ASSOC]\n",
            t0 + Duration::from_secs(59),
        );
        assert!(!w.is_ended());
        w.on_reply(
            b"02:00:00:00:00:02\nflags=[ASSOC]\n",
            t0 + Duration::from_secs(60),
        );
        assert_eq!(w.request(), None);
        // A late reply after the end changes nothing.
        w.on_reply(
            b"02:00:00:00:00:03\nflags=[ASSOC]\n",
            t0 + Duration::from_secs(61),
        );
        let walk = w.into_walk();
        assert!(matches!(walk.outcome, Err(WalkError::OutOfTime(_))));
        assert_eq!(walk.stations.len(), 2);
    }

    #[test]
    fn a_socket_error_ends_the_walk_naming_the_request() {
        let t0 = Instant::now();
        let mut w = WalkState::start(LIMITS, t0);
        w.on_reply(b"02:00:00:00:00:01\nflags=[ASSOC]\n", t0);
        w.on_error(SocketError::TooLong);
        assert!(w.is_ended());
        let walk = w.into_walk();
        assert_eq!(
            walk.outcome.unwrap_err().to_string(),
            "STA-NEXT 02:00:00:00:00:01: reply longer than 8192 bytes"
        );
        assert_eq!(walk.stations.len(), 1);
    }
}
