//! The query API's nonces and rate live in the database: a signed URI used
//! on one server process is refused on another sharing the PostgreSQL (and
//! on the same SQLite file after a restart), the rate of one request a
//! second per key holds across processes, the same signed URI sent to two
//! processes at once is answered once, and the state of a key removed from
//! the config file is deleted. X-Sign values come from Python's hmac; the
//! SQLite table is read with Python's sqlite3.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{api_code, api_get, Postgres, Server, TempDir};

const SECRET: &[u8] = b"state-secret";
const OTHER_SECRET: &[u8] = b"other-secret";
/// The API's locations endpoint: cheap, and needs no reports.
const LOCATIONS: &str = "/service/api/v1/locations";

fn write_config(dir: &Path, keys: &[(&str, &str)]) -> String {
    let mut toml = String::new();
    for (public, secret_file) in keys {
        toml.push_str(&format!("[[api_key]]\npublic = \"{public}\"\nsecret_file = \"{secret_file}\"\n"));
    }
    let path = dir.join(format!("server-{}.toml", keys.len()));
    std::fs::write(&path, toml).unwrap();
    path.to_str().unwrap().to_string()
}

fn secrets(dir: &Path) {
    std::fs::write(dir.join("a.secret"), SECRET).unwrap();
    std::fs::write(dir.join("b.secret"), OTHER_SECRET).unwrap();
}

/// (status, code) of a locations request with `nonce`.
fn locations(server: &Server, public: &str, secret: &[u8], nonce: u64) -> (u16, i64) {
    let r = api_get(server.addr, public, secret, &format!("{LOCATIONS}?nonce={nonce}"));
    (r.status, api_code(&r))
}

/// Past the one-request-a-second rate of the key's last answer.
fn pause() {
    std::thread::sleep(Duration::from_millis(1100));
}

fn sqlite_keys(db: &Path) -> Vec<(String, u64)> {
    let script = "import sqlite3, sys\n\
                  c = sqlite3.connect(sys.argv[1])\n\
                  for k, n in c.execute('SELECT public_key, last_nonce FROM api_key_state ORDER BY public_key'): print(k, n % 2**64)\n";
    let out = Command::new("python3").args(["-c", script]).arg(db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, n) = l.split_once(' ').unwrap();
            (k.to_string(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn sqlite_nonces_outlive_a_restart_and_removed_keys_are_forgotten() {
    let dir = TempDir::new("api-state-sqlite");
    secrets(dir.path());
    let both = write_config(dir.path(), &[("pk_a", "a.secret"), ("pk_b", "b.secret")]);
    let db = dir.path().join("rows.sqlite");
    let db_arg = db.to_str().unwrap();
    // Nonces above 2^63 too: the column is signed.
    let big = u64::MAX - 5;
    {
        let server = Server::start(&["--database", db_arg, "--config", &both], Some("report-key"));
        assert_eq!(locations(&server, "pk_a", SECRET, 1000), (200, 0));
        assert_eq!(locations(&server, "pk_b", OTHER_SECRET, big), (200, 0));
    }
    assert_eq!(sqlite_keys(&db), [("pk_a".to_string(), 1000), ("pk_b".to_string(), big)]);
    {
        let server = Server::start(&["--database", db_arg, "--config", &both], Some("report-key"));
        // The same signed URIs after the restart: used up.
        assert_eq!(locations(&server, "pk_a", SECRET, 1000), (401, 3));
        assert_eq!(locations(&server, "pk_b", OTHER_SECRET, big), (401, 3));
        assert_eq!(locations(&server, "pk_b", OTHER_SECRET, big - 1), (401, 3));
        // The rate counts from each key's last answer before the restart:
        // without the pause a quick restart made these two a 429.
        pause();
        assert_eq!(locations(&server, "pk_a", SECRET, 1001), (200, 0));
        assert_eq!(locations(&server, "pk_b", OTHER_SECRET, big + 1), (200, 0));
    }
    // pk_b leaves the config: its row goes when a server starts with it.
    let only_a = write_config(dir.path(), &[("pk_a", "a.secret")]);
    let server = Server::start(&["--database", db_arg, "--config", &only_a], Some("report-key"));
    assert_eq!(locations(&server, "pk_a", SECRET, 1001), (401, 3));
    assert!(server.log().contains("forgot the nonces of 1 key(s) no longer in the config file"), "{}", server.log());
    drop(server);
    assert_eq!(sqlite_keys(&db), [("pk_a".to_string(), 1001)]);
}

#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn two_processes_on_one_postgresql_share_nonces_and_rate() {
    let pg = Postgres::start("api-state");
    let dir = TempDir::new("api-state-pg");
    secrets(dir.path());
    let config = write_config(dir.path(), &[("pk_a", "a.secret"), ("pk_b", "b.secret")]);
    let args = ["--database", pg.url.as_str(), "--config", config.as_str()];
    let (one, two) = (Server::start(&args, Some("report-key")), Server::start(&args, Some("report-key")));

    // A nonce used on one process is refused on the other, in both
    // directions, whatever the pause.
    assert_eq!(locations(&one, "pk_a", SECRET, 10), (200, 0));
    pause();
    assert_eq!(locations(&two, "pk_a", SECRET, 10), (401, 3));
    assert_eq!(locations(&two, "pk_a", SECRET, 9), (401, 3));
    assert_eq!(locations(&two, "pk_a", SECRET, 11), (200, 0));
    pause();
    assert_eq!(locations(&one, "pk_a", SECRET, 11), (401, 3));

    // The rate across processes: answered on one, a fresh nonce on the other
    // at once is too soon (and uses its nonce up); the other key is not
    // held back.
    pause();
    let (answers, [_, refused]) =
        support::back_to_back(one.addr, two.addr, "pk_a", SECRET, |n| format!("{LOCATIONS}?nonce={n}"), 20);
    assert_eq!(answers.each_ref().map(|r| (r.status, api_code(r))), [(200, 0), (429, 6)]);
    assert_eq!(locations(&two, "pk_b", OTHER_SECRET, 1), (200, 0));
    pause();
    assert_eq!(locations(&one, "pk_a", SECRET, refused), (401, 3), "the refused request used nonce {refused} up");
    assert_eq!(locations(&one, "pk_a", SECRET, refused + 1), (200, 0));

    // One signed URI sent 16 times at once, half to each process: answered
    // once, refused as stale every other time.
    pause();
    let uri = format!("{LOCATIONS}?nonce=100");
    let sign = support::python_hmac_sha512(SECRET, &uri);
    let statuses: Vec<(u16, i64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let addr = if i % 2 == 0 { one.addr } else { two.addr };
                let (uri, sign) = (&uri, &sign);
                s.spawn(move || {
                    let r = support::request(addr, "GET", uri, &[("X-Key", "pk_a"), ("X-Sign", sign)], b"");
                    (r.status, api_code(&r))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == (200, 0)).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == (401, 3)).count(), 15, "{statuses:?}");
    drop((one, two));
    drop(pg);
}
