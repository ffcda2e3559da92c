//! The kernel filter for probe requests, as a ready-made classic BPF program.
//!
//! libpcap would compile `type mgt subtype probe-req` at start-up, but its
//! filter compiler (grammar, lexer, optimizer) is the largest piece of C in a
//! static MIPS build: about 70 KiB of the package, on routers with 8 MB of
//! flash. The program is short and fixed, so it is written here; the test
//! `tests/bpf_filter.rs` checks that it accepts exactly the frames libpcap's
//! own compilation of that expression accepts.
//!
//! For link type 127 (radiotap): the radiotap header length is the
//! little-endian 16-bit value at byte 2, and the 802.11 frame control byte
//! follows the header. BPF loads are big-endian, hence the two byte loads.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct Program {
    len: c_uint,
    insns: *const Insn,
}

// Opcodes from <linux/filter.h> / <pcap/bpf.h>.
const LD_B_ABS: u16 = 0x30; // A = pkt[k]
const LD_B_IND: u16 = 0x50; // A = pkt[X + k]
const ALU_LSH_K: u16 = 0x64; // A <<= k
const ALU_OR_X: u16 = 0x4c; // A |= X
const ALU_AND_K: u16 = 0x54; // A &= k
const MISC_TAX: u16 = 0x07; // X = A
const JMP_JEQ_K: u16 = 0x15; // if A == k skip jt else skip jf
const RET_K: u16 = 0x06; // accept k bytes (0: drop)

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// Frame control byte 0 of a probe request: version 0, type 0 (management),
/// subtype 4. The mask keeps subtype and type, as libpcap's does.
const PROBE_REQUEST_FC0: u32 = 0x40;
const TYPE_SUBTYPE_MASK: u32 = 0xfc;

static PROBE_REQUEST_PROGRAM: [Insn; 11] = [
    insn(LD_B_ABS, 0, 0, 3),             // high byte of the radiotap length
    insn(ALU_LSH_K, 0, 0, 8),
    insn(MISC_TAX, 0, 0, 0),
    insn(LD_B_ABS, 0, 0, 2),             // low byte
    insn(ALU_OR_X, 0, 0, 0),
    insn(MISC_TAX, 0, 0, 0),             // X = radiotap length
    insn(LD_B_IND, 0, 0, 0),             // frame control, first byte
    insn(ALU_AND_K, 0, 0, TYPE_SUBTYPE_MASK),
    insn(JMP_JEQ_K, 0, 1, PROBE_REQUEST_FC0),
    insn(RET_K, 0, 0, 65535),            // keep it (the snap length still applies)
    insn(RET_K, 0, 0, 0),                // not a probe request (or too short to tell)
];

extern "C" {
    fn pcap_setfilter(p: *mut c_void, fp: *mut Program) -> c_int;
    fn pcap_geterr(p: *mut c_void) -> *const c_char;
    fn pcap_offline_filter(fp: *const Program, h: *const c_void, pkt: *const u8) -> c_int;
}

/// Installs the probe request filter on an open capture: in the kernel for a
/// live one, in libpcap for a file.
pub fn install_probe_request_filter<T: pcap::Activated + ?Sized>(cap: &pcap::Capture<T>) -> Result<(), String> {
    let handle = cap.as_ptr() as *mut c_void;
    let mut program = Program { len: PROBE_REQUEST_PROGRAM.len() as c_uint, insns: PROBE_REQUEST_PROGRAM.as_ptr() };
    // SAFETY: `handle` is a live pcap_t owned by `cap`; libpcap copies the
    // program and does not keep the pointer.
    if unsafe { pcap_setfilter(handle, &mut program) } == 0 {
        return Ok(());
    }
    // SAFETY: pcap_geterr returns the handle's NUL-terminated error buffer.
    let message = unsafe { CStr::from_ptr(pcap_geterr(handle)) };
    Err(message.to_string_lossy().into_owned())
}

/// Whether the program accepts `frame`, run by libpcap's BPF interpreter:
/// for tests that compare it with libpcap's own compilation.
pub fn probe_request_filter_accepts(frame: &[u8]) -> bool {
    #[repr(C)]
    struct PktHdr {
        ts: libc::timeval,
        caplen: u32,
        len: u32,
    }
    let header = PktHdr { ts: libc::timeval { tv_sec: 0, tv_usec: 0 }, caplen: frame.len() as u32, len: frame.len() as u32 };
    let program = Program { len: PROBE_REQUEST_PROGRAM.len() as c_uint, insns: PROBE_REQUEST_PROGRAM.as_ptr() };
    // SAFETY: a valid program, header and buffer of `caplen` bytes.
    unsafe { pcap_offline_filter(&program, &header as *const PktHdr as *const c_void, frame.as_ptr()) != 0 }
}
