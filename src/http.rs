//! Sending one report: an HTTP(S) POST with the `Signature` header.

use std::time::Duration;

use crate::report::signature;

/// The POST of one report, as its log line describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// 2xx.
    Accepted(u16),
    /// Any other status: the batch is dropped.
    Refused(u16),
    /// No answer: connect error, TLS error, timeout. The batch is dropped.
    Failed(String),
}

pub struct Poster {
    agent: ureq::Agent,
    url: String,
    key: Vec<u8>,
}

#[derive(Debug)]
pub struct PosterError(pub String);

impl std::fmt::Display for PosterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Poster {
    /// `ca_file` is read only for https URLs. `timeout` bounds the whole
    /// exchange (connect, TLS, send, answer).
    pub fn new(url: &str, key: &[u8], timeout: Duration, ca_file: &std::path::Path) -> Result<Poster, PosterError> {
        let builder = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // A non-2xx answer is an outcome to log, not an error to unwrap.
            .http_status_as_error(false)
            .user_agent(concat!("presenced/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0);
        #[cfg(feature = "tls")]
        let builder = if url.starts_with("https:") {
            builder.tls_config(tls::config(ca_file)?)
        } else {
            builder
        };
        #[cfg(not(feature = "tls"))]
        let _ = ca_file;
        Ok(Poster { agent: builder.build().into(), url: url.to_string(), key: key.to_vec() })
    }

    pub fn post(&self, body: &[u8]) -> PostOutcome {
        let sig = signature(&self.key, body);
        let result = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Signature", &sig)
            .send(body);
        match result {
            Ok(mut response) => {
                let status = response.status().as_u16();
                // Read a little of the answer so the connection can be reused;
                // what the server says is not ours to interpret.
                let _ = response.body_mut().with_config().limit(64 * 1024).read_to_vec();
                if (200..300).contains(&status) {
                    PostOutcome::Accepted(status)
                } else {
                    PostOutcome::Refused(status)
                }
            }
            Err(e) => PostOutcome::Failed(e.to_string()),
        }
    }
}

/// The POST timeout for a rate: below the rate, so that a slow server never
/// delays the next report, and at most 10 s.
pub fn timeout_for_rate(rate_secs: u32) -> Duration {
    let three_quarters = Duration::from_millis(rate_secs as u64 * 750);
    three_quarters.min(Duration::from_secs(10))
}

#[cfg(feature = "tls")]
mod tls {
    use std::path::Path;
    use std::sync::Arc;

    use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};

    use super::PosterError;

    /// Roots from the CA bundle only (not a compiled-in list, which would
    /// cost flash and go stale on an access point), with the ring provider.
    pub fn config(ca_file: &Path) -> Result<TlsConfig, PosterError> {
        let pem = std::fs::read(ca_file)
            .map_err(|e| PosterError(format!("--ca-file: cannot read {}: {e}", ca_file.display())))?;
        let certs: Vec<_> = parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(PosterError(format!(
                "--ca-file: {} holds no PEM certificate",
                ca_file.display()
            )));
        }
        Ok(TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(certs)))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_stays_below_the_rate() {
        assert_eq!(timeout_for_rate(1), Duration::from_millis(750));
        assert_eq!(timeout_for_rate(4), Duration::from_secs(3));
        assert_eq!(timeout_for_rate(30), Duration::from_secs(10));
        assert_eq!(timeout_for_rate(u32::MAX), Duration::from_secs(10));
    }
}
