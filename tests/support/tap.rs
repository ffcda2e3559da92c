//! A virtual monitor interface for live-capture tests.
//!
//! A TAP device whose link type is set to 803 (ARPHRD_IEEE80211_RADIOTAP)
//! before it is brought up: every frame written to its fd arrives on the
//! interface as a received frame, and libpcap opens it with link type 127
//! (IEEE802_11_RADIO), exactly like a Wi-Fi card in monitor mode. The TAP is
//! not persistent, so closing the fd deletes the interface; `Drop` does that
//! and checks the interface is really gone, so no test leaves one behind.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// ARPHRD_IEEE80211_RADIOTAP from <linux/if_arp.h>.
pub const ARPHRD_IEEE80211_RADIOTAP: u32 = 803;
/// Interface names are at most IFNAMSIZ - 1 bytes.
const MAX_NAME: usize = 15;

static NEXT_TAP: AtomicU32 = AtomicU32::new(0);

pub struct Tap {
    /// `None` once closed.
    file: Option<File>,
    name: String,
}

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags in the
/// union; the tail pads it past the kernel's 40-byte (64-bit) size.
#[repr(C)]
struct IfReqFlags {
    name: [u8; 16],
    flags: libc::c_short,
    _union_rest: [u8; 30],
}

impl Tap {
    /// Creates `pdtap<pid>-<n>`: unique per process and per call, so tests
    /// running in parallel (and other checkouts' tests) never collide.
    pub fn create() -> io::Result<Tap> {
        let n = NEXT_TAP.fetch_add(1, Ordering::Relaxed);
        let name = format!("pdtap{}-{n}", std::process::id());
        if name.len() > MAX_NAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface name {name} is longer than {MAX_NAME} bytes"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot open /dev/net/tun (is the tun module loaded?): {e}"),
                )
            })?;

        let mut req = IfReqFlags {
            name: [0; 16],
            flags: 0,
            _union_rest: [0; 30],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // No packet-information prefix: what is written is the frame itself.
        req.flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: the fd is open and `req` outlives the call; TUNSETIFF reads
        // and writes at most sizeof(struct ifreq) bytes, which `req` covers.
        if unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                libc::TUNSETIFF,
                &mut req as *mut IfReqFlags,
            )
        } < 0
        {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")));
        }
        // From here on, dropping `tap` deletes the interface on every error path.
        let tap = Tap {
            file: Some(file),
            name,
        };

        // The kernel refuses TUNSETLINK on an interface that is up (EBUSY),
        // so this must come before `ip link set up`.
        let fd = tap.fd()?;
        // SAFETY: TUNSETLINK takes its argument by value, not as a pointer.
        if unsafe {
            libc::ioctl(
                fd,
                libc::TUNSETLINK,
                ARPHRD_IEEE80211_RADIOTAP as libc::c_ulong,
            )
        } < 0
        {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("TUNSETLINK {}: {e}", tap.name),
            ));
        }
        let status = Command::new("ip")
            .args(["link", "set", &tap.name, "up"])
            .status()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run `ip` (iproute2): {e}")))?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "`ip link set {} up` failed: {status}",
                tap.name
            )));
        }
        Ok(tap)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes one radiotap frame; it is received on the interface whole.
    pub fn write_frame(&self, frame: &[u8]) -> io::Result<()> {
        let mut file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("TAP already closed"))?;
        let written = file.write(frame)?;
        // A TAP write is one frame: a short write would be a corrupt frame.
        if written != frame.len() {
            return Err(io::Error::other(format!(
                "TAP took {written} of {} bytes",
                frame.len()
            )));
        }
        Ok(())
    }

    /// Closes the fd and waits until the interface has disappeared.
    pub fn close(mut self) -> io::Result<()> {
        self.close_and_check()
    }

    fn fd(&self) -> io::Result<i32> {
        self.file
            .as_ref()
            .map(|f| f.as_raw_fd())
            .ok_or_else(|| io::Error::other("TAP already closed"))
    }

    fn close_and_check(&mut self) -> io::Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        drop(file);
        // Unregistering can lag the close a little while a capture socket
        // still holds the device.
        let deadline = Instant::now() + Duration::from_secs(5);
        while interface_exists(&self.name) {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "interface {} still exists after its TAP fd was closed",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Err(e) = self.close_and_check() {
            // A second panic while unwinding would abort and hide the first failure.
            if std::thread::panicking() {
                eprintln!("{e}");
            } else {
                panic!("{e}");
            }
        }
    }
}

pub fn interface_exists(name: &str) -> bool {
    let Ok(c_name) = CString::new(name) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string; the call only reads it.
    unsafe { libc::if_nametoindex(c_name.as_ptr()) != 0 }
}
